"""Freshness: from a write on one mount to its visibility on another.

* memory: mount A writes ``memory/fresh/k``; a reader polls the same file on
  mount B (every 5 ms) until the new value shows.
* message: A writes ``outbox/<B>``; on B a reader blocks in ``cat inbox/next``;
  once back to back (each message sent as soon as the previous one arrived) and
  once after the mount has been idle for a few seconds.
* transcript: a line appended to a Claude Code session file, with the mirror
  following it, until ``tail -f`` on mount B prints it.  Two tails watch: plain
  ``tail -f`` (GNU tail polls a FUSE file once a second) and ``tail -f -s 0.1``,
  so tail's own sleep can be told apart from tcfs's pipeline.

The clock starts when the writer's ``close()`` (or the append) returned.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.context import Ctx, memory_doc
from bench.latency import _read, _write
from bench.mounts import Backend, Mirror, Mount, claude_session
from bench.procs import wait_until
from bench.stats import summary
from tcfs.protocol import keys

MIRROR_INTERVAL = 0.5  # the mirror's default
TIMEOUT = 10.0
MESSAGE_GAP = 6.0  # longer than the mount's pause after a pass that delivered mail


class Arrivals:
    """Lines seen by a reader thread, with the time each arrived."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.cond = threading.Condition()

    def add(self, text: str) -> None:
        with self.cond:
            for line in text.splitlines():
                self.seen.setdefault(line.strip(), time.perf_counter())
            self.cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while text not in self.seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.seen[text]


def _jitter() -> None:
    # De-correlate samples from the daemons' polling phases.
    time.sleep(random.uniform(0.05, 0.3))


def memory_freshness(a: Mount, b: Mount, k: int) -> list[float | None]:
    w, r = f"{a.path}/memory/fresh/k", f"{b.path}/memory/fresh/k"
    out: list[float | None] = []
    for i in range(k + 1):
        val = f"v{i}-{uuid.uuid4().hex[:6]}"
        _write(w, (val + "\n").encode())
        t_w = time.perf_counter()
        seen = None
        while time.perf_counter() - t_w < TIMEOUT:
            try:
                if _read(r).decode().strip() == val:
                    seen = time.perf_counter()
                    break
            except OSError:
                pass
            time.sleep(0.005)
        if i:  # the first write creates the key; not a sample
            out.append(None if seen is None else seen - t_w)
        _jitter()
    return out


def message_freshness(a: Mount, b: Mount, k: int, gap: float = 0.0) -> list[float | None]:
    """``gap``: idle seconds before each message (0: back to back, as in a busy exchange)."""
    arrivals = Arrivals()
    stop = threading.Event()
    nxt = f"{b.path}/inbox/next"

    def reader() -> None:
        while not stop.is_set():
            try:
                arrivals.add(_read(nxt).decode())
            except OSError:
                time.sleep(0.05)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.5)
    out: list[float | None] = []
    try:
        for i in range(k):
            if gap:
                time.sleep(gap)
            text = f"fresh {i} {uuid.uuid4().hex[:6]}"
            _write(f"{a.path}/outbox/{b.agent}", (text + "\n").encode())
            t_w = time.perf_counter()
            seen = arrivals.wait_for(text, TIMEOUT)
            out.append(None if seen is None else seen - t_w)
            _jitter()
    finally:
        stop.set()
        try:  # unblock the reader's pending inbox/next
            _write(f"{a.path}/outbox/{b.agent}", b"stop\n")
        except OSError:
            pass
        t.join(timeout=5)
    return out


def transcript_freshness(
    ctx: Ctx, backend: Backend, b: Mount, k: int
) -> dict[str, list[float | None]]:
    sid = str(uuid.uuid4())
    home = ctx.root / "home" / f"agent-{sid[:8]}"
    cwd = ctx.root / "work" / f"proj-{sid[:8]}"
    cwd.mkdir(parents=True, exist_ok=True)
    src = claude_session(home, cwd, sid)

    def line(text: str) -> bytes:
        rec = {
            "type": "user",
            "uuid": str(uuid.uuid4()),
            "sessionId": sid,
            "cwd": str(cwd),
            "timestamp": "2026-01-01T00:00:00Z",
            "message": {"role": "user", "content": text},
        }
        return (json.dumps(rec) + "\n").encode()

    with open(src, "ab") as f:
        f.write(line("start"))
    mirror = Mirror(ctx.reaper, ctx.root, backend, "writer", home, cwd, MIRROR_INTERVAL).start()
    target = Path(b.path) / "sessions" / "claude-code" / f"{sid}.jsonl"
    tails: dict[str, subprocess.Popen[bytes]] = {}
    arrivals = {"tail -f": Arrivals(), "tail -f -s 0.1": Arrivals()}
    threads: list[threading.Thread] = []
    out: dict[str, list[float | None]] = {name: [] for name in arrivals}
    try:
        if not wait_until(lambda: target.exists(), 30, 0.1):
            raise RuntimeError(
                f"{target.name} never appeared in the mount; mirror log: {mirror.log_tail(600)}"
            )
        for name, argv in (
            ("tail -f", ["tail", "-c", "+1", "-f", str(target)]),
            ("tail -f -s 0.1", ["tail", "-c", "+1", "-f", "-s", "0.1", str(target)]),
        ):
            p = ctx.reaper.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            tails[name] = p

            def pump(p: subprocess.Popen[bytes] = p, arr: Arrivals = arrivals[name]) -> None:
                assert p.stdout is not None
                for raw in iter(p.stdout.readline, b""):
                    try:
                        content = json.loads(raw).get("message", {}).get("content", "")
                    except ValueError:
                        continue
                    arr.add(str(content))

            th = threading.Thread(target=pump, daemon=True)
            th.start()
            threads.append(th)
        if not arrivals["tail -f"].wait_for("start", 15):
            raise RuntimeError("tail -f never printed the first line")
        for i in range(k):
            text = f"fresh-{i}-{uuid.uuid4().hex[:6]}"
            with open(src, "ab") as f:
                f.write(line(text))
                f.flush()
                os.fsync(f.fileno())
            t_w = time.perf_counter()
            for name, arr in arrivals.items():
                seen = arr.wait_for(text, 15)
                out[name].append(None if seen is None else seen - t_w)
            _jitter()
    finally:
        for p in tails.values():
            ctx.reaper.forget(p)
        mirror.stop()
    return out


def _summ(kind: str, what: str, xs: list[float | None]) -> dict[str, Any]:
    got = [x for x in xs if x is not None]
    return {
        "backend": kind,
        "what": what,
        **summary(got),
        "timeouts": len(xs) - len(got),
    }


@dataclass(frozen=True)
class Samples:
    """How many samples of each kind (the message ones each wait out a mount poll)."""

    memory: int
    messages: int
    messages_after_idle: int
    transcript: int


def samples(quick: bool, kind: str) -> Samples:
    if quick:
        return Samples(memory=3, messages=2, messages_after_idle=0, transcript=3)
    if kind == "s3":
        return Samples(memory=20, messages=5, messages_after_idle=4, transcript=15)
    return Samples(memory=10, messages=3, messages_after_idle=0, transcript=8)


def run_backend(ctx: Ctx, backend: Backend, n: Samples) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # memory/fresh/ must exist as a directory before `echo v > memory/fresh/k`
    ctx.seed(backend, [(keys.memory_key(("fresh", "seed")), memory_doc("seed"))])
    with (
        Mount(ctx.reaper, ctx.root, backend, "fresh-a", wait_timeout=60) as a,
        Mount(ctx.reaper, ctx.root, backend, "fresh-b", wait_timeout=60) as b,
    ):
        plan: list[tuple[str, Any]] = [
            ("memory value", lambda: memory_freshness(a, b, n.memory)),
            (
                "message via inbox/next (back to back)",
                lambda: message_freshness(a, b, n.messages),
            ),
        ]
        if n.messages_after_idle:
            plan.append(
                (
                    f"message via inbox/next (after {MESSAGE_GAP:g} s idle)",
                    lambda: message_freshness(a, b, n.messages_after_idle, MESSAGE_GAP),
                )
            )
        for what, fn in plan:
            try:
                t0 = time.monotonic()
                row = _summ(backend.kind, what, fn())
                if ctx.proxy is not None and backend.kind == "s3":
                    t1 = time.monotonic()
                    row["requests_per_min"] = round(
                        ctx.proxy.count(backend.bucket, t0, t1) * 60 / (t1 - t0), 1
                    )
                    row["requests_per_min_by_op"] = {
                        op: round(v * 60 / (t1 - t0), 1)
                        for op, v in ctx.proxy.by_op(backend.bucket, t0, t1).items()
                    }
                rows.append(row)
                ctx.log(f"  {backend.kind:5} {what:26} {rows[-1]}")
            except Exception as exc:
                ctx.note(f"freshness {backend.kind} {what} could not run: {exc}")
        try:
            for name, xs in transcript_freshness(ctx, backend, b, n.transcript).items():
                rows.append(_summ(backend.kind, f"transcript line ({name})", xs))
                ctx.log(f"  {backend.kind:5} {rows[-1]['what']:26} {rows[-1]}")
        except Exception as exc:
            ctx.note(f"freshness {backend.kind} transcript could not run: {exc}")
    return rows


def run(ctx: Ctx, backends: list[Backend]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    if ctx.quick:  # a smoke run: the s3 backend only
        backends = [b for b in backends if b.kind == "s3"] or backends[:1]
    for b in backends:
        try:
            rows += run_backend(ctx, b, samples(ctx.quick, b.kind))
        except Exception as exc:
            ctx.note(f"freshness on {b.kind} could not run: {exc}")
    return {"rows": rows, "mirror_interval_s": MIRROR_INTERVAL}

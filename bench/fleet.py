"""``python -m bench.fleet`` (``make bench-scale``): where "bucket as coordinator" breaks.

N simulated agents (N = 10, 100, 1,000; protocol-level, ``bench.fleet_agents``,
a few processes) run a realistic mix against SeaweedFS's S3 (or moto's, with
``--s3 moto``) on loopback behind the counting proxy, which adds a fixed 20 ms
round trip to every request and counts each one.  A real mount with 5 blocked
``inbox/next`` and 5 blocked ``wait`` readers is measured first, on its own
bucket: its LISTs a minute, its cost, and how fast a message, a completion and
a CLI message reach it.

Writes ``bench/results/scale.json`` and ``scale.md`` (tables and the model),
and leaves nothing running.  ``--quick`` shortens every window (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.fleet_agents import TEAM, run_worker
from bench.mounts import Backend, Mount
from bench.procs import Reaper, base_env, rss_kb
from bench.servers import S3_ENV, MotoServer, s3_client
from tests.support.loopback_proxy import LoopbackProxy, Request
from tests.support.seaweedfs import SeaweedServer

RESULTS = Path(__file__).resolve().parent / "results"
RTT_MS = 20.0
SIZES = (10, 100, 1000)

# AWS S3 Standard, us-east-1, list prices per 1,000 requests.
PRICE_WRITE = 0.005  # PUT, COPY, POST, LIST
PRICE_READ = 0.0004  # GET, HEAD and every other request
WRITE_OPS = {
    "PutObject",
    "CopyObject",
    "ListObjectsV2",
    "ListObjects",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
}
FREE_OPS = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}  # DELETE is free on S3
LIST_OPS = {"ListObjectsV2", "ListObjects"}
READ_OPS = {"GetObject", "HeadObject"}

# S3's documented request rates per partitioned prefix, per second.
PREFIX_WRITES_S = 3500
PREFIX_READS_S = 5500


def dollars(by_op: dict[str, int]) -> float:
    total = 0.0
    for op, n in by_op.items():
        base = op.split(":")[0]
        if base in FREE_OPS:
            continue
        total += n * (PRICE_WRITE if base in WRITE_OPS else PRICE_READ) / 1000
    return total


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def summary(xs: list[float], digits: int) -> dict[str, Any]:
    p50, p95 = pct(xs, 0.5), pct(xs, 0.95)
    return {
        "n": len(xs),
        "p50": None if p50 is None else round(p50, digits),
        "p95": None if p95 is None else round(p95, digits),
    }


# ---------- the mount: 5 inbox/next + 5 wait readers ----------


class Reader:
    """One blocked ``cat`` on a mount; records when its output arrived."""

    def __init__(self, reaper: Reaper, path: Path) -> None:
        self.path = path
        self.proc = reaper.spawn(
            ["cat", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.out: bytes | None = None
        self.at: float | None = None
        self.at_mono: float | None = None  # the proxy's clock, for the breakdown
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read()
        self.at_mono = time.monotonic()
        self.at = time.time()
        self.out = data

    def done(self) -> bool:
        return self.at is not None


def _wait(cond: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


MOUNT_PARTS = ("idle", "messages", "completions", "cli")


#: where the time goes between ``send`` and a blocked ``cat inbox/next`` printing
PHASES = ("message PUT", "ring", "to the pass", "bell GET", "delivery", "to the reader")


def message_phases(
    proxy: LoopbackProxy, bucket: str, agent: str, msg_key: str, sent: float, woke: float
) -> dict[str, Any]:
    """One message's path, from the requests the proxy saw between ``sent`` and
    ``woke`` (both on the proxy's clock): each phase's seconds, and the requests
    of the delivery (after the bell GET that saw the ring).  A request's clock
    is when it arrived (``began``) and when its answer went back (``replied``)."""
    answered = [
        (e, e.replied)
        for e in proxy.events(bucket, sent)
        if e.replied is not None and e.began <= woke
    ]
    evs = sorted(answered, key=lambda pair: pair[1])  # in the order the answers went back
    bell = f"messages/{agent}/_tcfs_bell.json"
    cursor = f"messages/{agent}/_cursor.json"

    def first(pred: Any, after: float) -> tuple[Request, float] | None:
        return next(((e, end) for e, end in evs if e.began >= after and pred(e)), None)

    put = first(lambda e: e.op == "PutObject" and e.key.endswith(msg_key), sent)
    if put is None:
        return {}
    rung = first(lambda e: e.op == "PutObject" and e.key.endswith(bell), put[1])
    out: dict[str, Any] = {"message PUT": put[1] - sent}
    start = put[1]
    if rung is not None:
        out["ring"] = rung[1] - put[1]
        start = rung[1]
        look = first(
            lambda e: e.op == "GetObject" and e.key.endswith(bell) and e.status == 200, start
        )
        if look is not None:
            out["to the pass"] = look[0].began - start
            out["bell GET"] = look[1] - look[0].began
            start = look[1]
    done = [(e, end) for e, end in evs if e.op == "PutObject" and e.key.endswith(cursor)]
    done = [(e, end) for e, end in done if end >= start]
    if done:
        end = done[0][1]
        out["delivery"] = end - start
        out["to the reader"] = woke - end
        out["requests"] = [
            f"{e.op} {e.key.rsplit('/', 1)[-1] or e.key}"
            for e, _ in evs
            if e.began >= start and e.began <= end and not e.key.endswith(bell)
        ]
    return out


def breakdown_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {ph: summary([r[ph] for r in rows if ph in r], 3) for ph in PHASES}


def mount_section(
    root: Path,
    reaper: Reaper,
    moto: MotoServer,
    proxy: LoopbackProxy,
    quick: bool,
    log: Any,
    parts: tuple[str, ...] = MOUNT_PARTS,
) -> dict[str, Any]:
    from tcfs.protocol import Project
    from tcfs.protocol.waiting import SWEEP_S
    from tcfs.store.s3 import S3Store

    direct = s3_client(moto.endpoint)
    bucket = f"fleet-mount-{uuid.uuid4().hex[:6]}"
    direct.create_bucket(Bucket=bucket)
    backend = Backend("s3", bucket, endpoint=proxy.endpoint)
    mount = Mount(reaper, root, backend, "watcher", wait_timeout=3600).start()
    inbox = [Reader(reaper, mount.path / "inbox" / "next") for _ in range(5)]
    waits = [Reader(reaper, mount.path / "steps" / f"dep-{i}" / "wait") for i in range(5)]
    time.sleep(5)  # the readers' first looks are not the idle cost
    out: dict[str, Any] = {"sweep_s": SWEEP_S, "parts": list(parts)}
    if "idle" in parts:
        window = 60.0 if quick else 120.0
        log(f"mount: 5 inbox/next + 5 wait readers blocked; counting for {window:g} s")
        t0 = time.monotonic()
        time.sleep(window)
        t1 = time.monotonic()
        by_op = proxy.by_op(bucket, t0, t1)
        minutes = (t1 - t0) / 60
        lists = sum(n for op, n in by_op.items() if op.split(":")[0] in LIST_OPS)
        out |= {
            "window_s": round(t1 - t0, 1),
            "by_op_per_min": {op: round(n / minutes, 2) for op, n in by_op.items()},
            "lists_per_min": round(lists / minutes, 2),
            "requests_per_min": round(sum(by_op.values()) / minutes, 2),
            "dollars_per_agent_hour": round(dollars(by_op) / minutes * 60, 5),
            "still_blocked": sum(not r.done() for r in inbox + waits),
            "daemon_rss_mb": round((mount.rss_kb() or 0) / 1024, 1),
        }
    store = S3Store(
        bucket,
        "bench",
        endpoint=proxy.endpoint,
        path_style=True,
        access_key=S3_ENV["AWS_ACCESS_KEY_ID"],
        secret_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    sender = Project(store, "sender")
    if "messages" in parts:
        # each message wakes one blocked inbox/next; a new reader takes its place
        fresh_msg: list[float] = []
        paths: list[dict[str, Any]] = []
        n_msgs = 6 if quick else 12
        for i in range(n_msgs):
            time.sleep(1.0 + (i * 0.37) % 1.5)  # arrive at every phase of the poller's pass
            sent, sent_mono = time.time(), time.monotonic()
            msg = sender.messages.send("watcher", f"message {i}")
            if not _wait(lambda: any(r.done() for r in inbox), 10):
                continue
            woke = next(r for r in inbox if r.done())
            assert woke.at is not None and woke.at_mono is not None
            fresh_msg.append(woke.at - sent)
            path = message_phases(proxy, bucket, "watcher", msg.key, sent_mono, woke.at_mono)
            paths.append({"total": round(woke.at - sent, 3)} | path)
            inbox.remove(woke)
            inbox.append(Reader(reaper, mount.path / "inbox" / "next"))
        out["message_s"] = summary(fresh_msg, 2)
        out["message_breakdown_s"] = breakdown_table(paths)
        out["message_paths"] = [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in paths
        ]
    if "completions" in parts:
        # completions: each wakes that step's wait
        fresh_done: list[float] = []
        for i, reader in enumerate(waits):
            time.sleep(1.0 + (i * 0.41) % 1.5)
            sender.steps.claim(f"dep-{i}")
            sent = time.time()
            sender.steps.handoff(f"dep-{i}", note="done")
            if _wait(reader.done, 10) and reader.at is not None:
                fresh_done.append(reader.at - sent)
        out["completion_s"] = summary(fresh_done, 2)
    if "cli" in parts:
        # the tracecraft CLI rings no bell: the sweep delivers its message
        cli = cli_send(root, backend, "watcher", "from the CLI")
        cli_s = None
        if cli is not None and _wait(lambda: any(r.done() for r in inbox), SWEEP_S + 15):
            woke = next(r for r in inbox if r.done())
            assert woke.at is not None
            cli_s = round(woke.at - cli, 2)
        out["cli_message_s"] = cli_s
    sender.close()
    store.close()
    mount.stop()
    return out


def cli_send(root: Path, backend: Backend, to: str, text: str) -> float | None:
    """``tracecraft send`` (the real CLI, set up by its own ``init``) into the same
    bucket; when the send started."""
    import shutil

    exe = shutil.which("tracecraft", path=str(Path(sys.executable).parent)) or shutil.which(
        "tracecraft"
    )
    if exe is None or backend.endpoint is None:
        return None
    home = root / "home" / f"cli-{backend.bucket}"
    home.mkdir(parents=True, exist_ok=True)
    env = {**base_env(home), "TRACECRAFT_AGENT": "cli-agent"}
    init = ["init", "--backend", "s3", "--endpoint", backend.endpoint, "--bucket", backend.bucket]
    init += ["--project", backend.project, "--agent", "cli-agent"]
    sent = 0.0
    for args in (init, ["send", to, text]):
        sent = time.time()  # the send's own start: its message may arrive before it exits
        proc = subprocess.run(
            [exe, *args],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        if proc.returncode != 0:
            return None
    return sent


# ---------- the fleet ----------


def fleet_section(
    n: int, moto: MotoServer, proxy: LoopbackProxy, seconds: float, log: Any
) -> dict[str, Any]:
    direct = s3_client(moto.endpoint)
    bucket = f"fleet-{n}-{uuid.uuid4().hex[:6]}"
    direct.create_bucket(Bucket=bucket)
    workers = 1 if n <= 10 else 2 if n <= 100 else 4
    teams = [list(range(t, min(n, t + TEAM))) for t in range(0, n, TEAM)]
    shares: list[list[tuple[int, str]]] = [[] for _ in range(workers)]
    for k, team in enumerate(teams):  # whole teams per process: peers share a process
        shares[k % workers] += [(i, f"a{i:04d}") for i in team]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=run_worker,
            args=(
                {
                    "bucket": bucket,
                    "endpoint": proxy.endpoint,
                    "agents": s,
                    "seconds": seconds,
                    "access_key": S3_ENV["AWS_ACCESS_KEY_ID"],
                    "secret_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
                },
                out,
            ),
            daemon=True,
        )
        for s in shares
        if s
    ]
    log(f"N={n}: {len(procs)} processes, {seconds:g} s")
    t0 = time.monotonic()
    for p in procs:
        p.start()
    rss: list[int] = []

    def sample() -> None:
        while any(p.is_alive() for p in procs):
            rss.append(sum(rss_kb(p.pid) or 0 for p in procs if p.pid))
            time.sleep(5)

    threading.Thread(target=sample, daemon=True).start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=seconds + 240))
    except queue.Empty:
        log(f"N={n}: only {len(results)} of {len(procs)} processes reported")
    t1 = time.monotonic()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    by_op = proxy.by_op(bucket, t0, t1)
    minutes = (t1 - t0) / 60
    lat: dict[str, list[float]] = {}
    fresh: dict[str, list[float]] = {}
    wins: list[tuple[str, str, int]] = []
    errors: Counter[str] = Counter()
    cycles = 0
    for r in results:
        for op, xs in r["lat"].items():
            lat.setdefault(op, []).extend(xs)
        for what, xs in r["fresh"].items():
            fresh.setdefault(what, []).extend(xs)
        wins += [tuple(w) for w in r["wins"]]
        errors.update(r["errors"])
        cycles += r["cycles"]
    winners: dict[str, set[str]] = {}
    for step, agent, _ in wins:
        winners.setdefault(step, set()).add(agent)
    doubles = sum(1 for w in winners.values() if len(w) > 1)
    disagree = 0
    for step, agents in winners.items():
        resp = direct.get_object(Bucket=bucket, Key=f"proj/steps/{step}/claim.json")
        holder = json.loads(resp["Body"].read()).get("agent")
        disagree += holder not in agents
    agent_minutes = n * minutes
    return {
        "n": n,
        "processes": len(procs),
        "window_s": round(t1 - t0, 1),
        "cycles": cycles,
        "requests_per_agent_min": {op: round(c / agent_minutes, 3) for op, c in by_op.items()},
        "total_per_agent_min": round(sum(by_op.values()) / agent_minutes, 3),
        "requests_per_s": round(sum(by_op.values()) / (t1 - t0), 1),
        "dollars_per_agent_hour": round(dollars(by_op) / agent_minutes * 60, 5),
        "claims": len(wins),
        "claims_per_s": round(len(wins) / (t1 - t0), 2),
        "claims_lost": len(lat.get("claim lost", [])),
        "double_winners": doubles,
        "bucket_disagrees": disagree,
        "latency_ms": {op: summary(xs, 1) for op, xs in sorted(lat.items())},
        "freshness_s": {what: summary(xs, 2) for what, xs in sorted(fresh.items())},
        "errors": dict(errors),
        "hung_agents": sum(r["hung"] for r in results),
        "rss_mb_peak": round(max(rss or [0]) / 1024, 1),
        "rss_kb_per_agent": round(max(rss or [0]) / n, 1),
        "cpu_s": round(sum(r["cpu_s"] for r in results), 1),
    }


# ---------- the model ----------


#: a claim slower than this at p95 means the loopback server, not the agents, set the pace
SATURATED_CLAIM_P95_MS = 2000.0


def model(fleet: list[dict[str, Any]], mount: dict[str, Any] | None) -> dict[str, Any]:
    """Where it breaks, from the per-agent rates of the largest N that did not
    saturate this machine's server (agents blocked in a queue send less)."""
    if not fleet:
        return {}
    fit = [
        r
        for r in fleet
        if (r["latency_ms"].get("claim") or {}).get("p95", 0) < SATURATED_CLAIM_P95_MS
    ]
    big = (fit or fleet)[-1]
    per_min = big["requests_per_agent_min"]
    # S3's per-prefix rates: GET/HEAD (and LIST, a GET on the bucket) vs PUT/POST/DELETE
    read_ops = READ_OPS | LIST_OPS
    write_ops = (WRITE_OPS - LIST_OPS) | FREE_OPS
    reads = sum(v for op, v in per_min.items() if op.split(":")[0] in read_ops) / 60
    writes = sum(v for op, v in per_min.items() if op.split(":")[0] in write_ops) / 60
    lists = sum(v for op, v in per_min.items() if op.split(":")[0] in LIST_OPS) / 60
    out = {
        "from_n": big["n"],
        "saturated_n": [r["n"] for r in fleet if r not in fit],
        "reads_per_agent_s": round(reads, 4),
        "writes_per_agent_s": round(writes, 4),
        "lists_per_agent_s": round(lists, 4),
        "agents_at_prefix_read_limit": int(PREFIX_READS_S / reads) if reads else None,
        "agents_at_prefix_write_limit": int(PREFIX_WRITES_S / writes) if writes else None,
        "list_dollars_per_agent_hour": round(lists * 3600 * PRICE_WRITE / 1000, 5),
        "dollars_per_hour_1000_agents": round(big["dollars_per_agent_hour"] * 1000, 3),
        "dollars_per_hour_10000_agents": round(big["dollars_per_agent_hour"] * 10000, 2),
    }
    if mount and "dollars_per_agent_hour" in mount:
        out["mount_dollars_per_hour_1000"] = round(mount["dollars_per_agent_hour"] * 1000, 3)
    return out


# ---------- report ----------


def render(res: dict[str, Any]) -> str:
    lines = [f"# Scale run {res['started']} ({res['seconds']:.0f} s)", ""]
    lines.append(
        f"Machine: {res['nproc']} cores; load average at start {res['load_start']}, at end "
        f"{res['load_end']}. S3 is on loopback behind the counting proxy with {RTT_MS:g} ms "
        f"added to every request: moto for the mount, {res['s3']} for the fleet. Prices: AWS "
        "S3 Standard us-east-1 list prices, $0.005 per 1,000 PUT/COPY/POST/LIST, $0.0004 per "
        "1,000 GET/HEAD, DELETE free."
    )
    m = res.get("mount")
    if m:
        lines += ["", "## A mount with 5 blocked `inbox/next` and 5 blocked `wait` readers", ""]
        lines.append("| figure | value |")
        lines.append("|---|---|")
        if "window_s" in m:
            lines.append(f"| window | {m['window_s']} s |")
            lines.append(f"| LISTs per minute | {m['lists_per_min']} |")
            lines.append(f"| requests per minute | {m['requests_per_min']} |")
            ops = ", ".join(f"{k} {v}" for k, v in m["by_op_per_min"].items())
            lines.append(f"| by op, per minute | {ops} |")
            lines.append(f"| dollars per agent-hour | {m['dollars_per_agent_hour']} |")
        if "message_s" in m:
            lines.append(
                f"| message → blocked `inbox/next`, p50 / p95 (n) | {_p(m['message_s'])} |"
            )
        if "completion_s" in m:
            lines.append(
                f"| completion → blocked `wait`, p50 / p95 (n) | {_p(m['completion_s'])} |"
            )
        if "cli_message_s" in m:
            cli = _s(m["cli_message_s"])
            lines.append(
                f"| message from the tracecraft CLI (sweep {m['sweep_s']:g} s) | {cli} s |"
            )
        if "daemon_rss_mb" in m:
            lines.append(f"| daemon RSS | {m['daemon_rss_mb']} MB |")
        if m.get("message_breakdown_s"):
            lines += ["", "### Where a message's time goes (send → blocked `cat` prints)", ""]
            lines.append("| phase | p50 s | p95 s | n |")
            lines.append("|---|---|---|---|")
            for ph, x in m["message_breakdown_s"].items():
                lines.append(f"| {ph} | {_s(x['p50'])} | {_s(x['p95'])} | {x['n']} |")
            reqs = [r.get("requests") for r in m.get("message_paths", []) if r.get("requests")]
            if reqs:
                lines.append("")
                lines.append(
                    "Delivery requests (one message): " + ", ".join(f"`{q}`" for q in reqs[-1])
                )
    f = res.get("fleet", [])
    if f:
        lines += ["", "## N simulated agents", ""]
        lines.append(
            "| N | processes | window s | cycles | req/agent-min | $/agent-hour | req/s | "
            "claims/s | claims lost | double winners | msg fresh p50/p95 s | "
            "completion fresh p50/p95 s | RSS MB (KB/agent) | errors |"
        )
        lines.append("|" + "---|" * 14)
        for r in f:
            fm = r["freshness_s"].get("message", {})
            fc = r["freshness_s"].get("completion", {})
            errs = sum(r["errors"].values())
            lines.append(
                f"| {r['n']} | {r['processes']} | {r['window_s']} | {r['cycles']} | "
                f"{r['total_per_agent_min']} | {r['dollars_per_agent_hour']} | "
                f"{r['requests_per_s']} | {r['claims_per_s']} | {r['claims_lost']} | "
                f"{r['double_winners']} | {_s(fm.get('p50'))}/{_s(fm.get('p95'))} | "
                f"{_s(fc.get('p50'))}/{_s(fc.get('p95'))} | {r['rss_mb_peak']} "
                f"({r['rss_kb_per_agent']}) | {errs} |"
            )
        lines += ["", "### Requests per agent-minute, by operation", ""]
        ops = sorted({op for r in f for op in r["requests_per_agent_min"]})
        lines.append("| op | " + " | ".join(f"N={r['n']}" for r in f) + " |")
        lines.append("|---|" + "---|" * len(f))
        for op in ops:
            lines.append(
                f"| {op} | "
                + " | ".join(str(r["requests_per_agent_min"].get(op, 0)) for r in f)
                + " |"
            )
        lines += ["", "### Latency per operation, p50 / p95 ms", ""]
        opsl = sorted({op for r in f for op in r["latency_ms"]})
        lines.append("| op | " + " | ".join(f"N={r['n']}" for r in f) + " |")
        lines.append("|---|" + "---|" * len(f))
        for op in opsl:
            cells = []
            for r in f:
                x = r["latency_ms"].get(op)
                cells.append(f"{x['p50']} / {x['p95']}" if x else "–")
            lines.append(f"| {op} | " + " | ".join(cells) + " |")
    mod = res.get("model")
    if mod:
        lines += ["", "## The model", "", "```", json.dumps(mod, indent=2), "```"]
    return "\n".join(lines) + "\n"


def _p(x: dict[str, Any]) -> str:
    return f"{_s(x['p50'])} / {_s(x['p95'])} s ({x['n']})"


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short windows: a smoke run")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="N values, comma-separated")
    ap.add_argument("--no-mount", action="store_true", help="skip the real-mount section")
    ap.add_argument(
        "--mount-parts",
        default=",".join(MOUNT_PARTS),
        help="the parts of the mount section to run, comma-separated (of "
        + ", ".join(MOUNT_PARTS)
        + "); `messages` alone takes under a minute and prints where a message's time goes",
    )
    ap.add_argument(
        "--s3",
        choices=("seaweedfs", "moto"),
        default="seaweedfs",
        help="the S3 server on loopback behind the proxy (moto's serialized writes saturate "
        "first on a small machine)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--render", action="store_true", help="only recompute the model and tables from scale.json"
    )
    args = ap.parse_args(argv)
    if args.render:
        res = json.loads((args.out / "scale.json").read_text())
        res["model"] = model(res["fleet"], res.get("mount"))
        (args.out / "scale.json").write_text(json.dumps(res, indent=2))
        (args.out / "scale.md").write_text(render(res))
        return 0
    sizes = [int(x) for x in args.sizes.split(",") if x]
    started = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    import signal
    import tempfile

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")  # runs the finally below

    signal.signal(signal.SIGTERM, stop)
    root = Path(tempfile.mkdtemp(prefix="tcfs-fleet-"))
    reaper = Reaper()
    # The mount is measured on moto (in memory: the proxy's round trip is the
    # latency, as on S3); the fleet on the server --s3 names, which must carry
    # the load of 1,000 agents.
    moto = MotoServer(root)
    proxy = LoopbackProxy(moto.port, rtt_ms=RTT_MS)
    big: Any = SeaweedServer(root) if args.s3 == "seaweedfs" else moto
    big_proxy = LoopbackProxy(big.port, rtt_ms=RTT_MS) if big is not moto else proxy
    res: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "load_start": loadavg(),
        "rtt_ms": RTT_MS,
        "s3": args.s3,
        "fleet": [],
    }
    try:
        if not args.no_mount:
            parts = tuple(x for x in args.mount_parts.split(",") if x)
            unknown = set(parts) - set(MOUNT_PARTS)
            if unknown:
                ap.error(f"--mount-parts: unknown {', '.join(sorted(unknown))}")
            res["mount"] = mount_section(root, reaper, moto, proxy, args.quick, log, parts)
            log(f"mount: {json.dumps(res['mount'])}")
        for n in sizes:
            seconds = 40.0 if args.quick else (90.0 if n < 1000 else 120.0)
            r = fleet_section(n, big, big_proxy, seconds, log)
            res["fleet"].append(r)
            log(
                f"N={n}: {r['total_per_agent_min']} req/agent-min, "
                f"${r['dollars_per_agent_hour']}/agent-hour, {r['claims_per_s']} claims/s, "
                f"double winners {r['double_winners']}, errors {r['errors']}"
            )
        res["model"] = model(res["fleet"], res.get("mount"))
    finally:
        reaper.cleanup()
        for p in {id(proxy): proxy, id(big_proxy): big_proxy}.values():
            p.close()
        for server in {id(moto): moto, id(big): big}.values():
            server.stop()
    res["seconds"] = time.monotonic() - started
    res["load_end"] = loadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(res, indent=2))
    (args.out / "scale.md").write_text(render(res))
    print(render(res))
    ok = all(r["double_winners"] == 0 and r["bucket_disagrees"] == 0 for r in res["fleet"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

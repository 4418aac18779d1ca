"""Scale: ``ls`` of a directory with 1,000 and 10,000 entries, and the daemon's RSS.

Each size gets its own bucket, filled directly (not through the mount), and a
fresh mount.  ``ls`` of ``inbox`` and ``memory/scale`` runs three times (the
first is cold); the raw floor is one paginated LIST of the same prefix with a
warm boto3 client (or the local store's listing).
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

from bench.context import Ctx, memory_doc, message_doc, message_key
from bench.mounts import Backend, Mount
from bench.stats import summary
from tcfs.protocol import keys

AGENT = "sc"


def runs(n: int) -> int:
    """ls and LIST repetitions: the first ls is cold; 10,000 entries take seconds each."""
    return 2 if n >= 10000 else 3


def items(n: int) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for k in range(n):
        out.append((message_key(AGENT, "filler"), message_doc("filler", AGENT, f"m{k}")))
        out.append((keys.memory_key(("scale", f"k{k:05d}")), memory_doc(f"v{k}")))
    return out


def _raw_list(ctx: Ctx, backend: Backend, prefix: str) -> int:
    if backend.kind == "s3":
        pages = ctx.floor_client.get_paginator("list_objects_v2").paginate(
            Bucket=backend.bucket, Prefix=f"{backend.project}/{prefix}"
        )
        return sum(len(p.get("Contents", ())) for p in pages)
    return sum(1 for _ in ctx.local_store(backend).list(prefix))


def _ls(path: str, timeout: float = 300) -> int:
    """Entries ``ls`` prints (timed by the caller; a watchdog instead of a polling wait)."""
    proc = subprocess.Popen(
        ["ls", "-1", "--color=never", path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        out, _ = proc.communicate()
    finally:
        watchdog.cancel()
    if proc.returncode != 0:
        raise RuntimeError(f"ls {path} exited with {proc.returncode}")
    return len(out.splitlines())


def measure(ctx: Ctx, backend: Backend, n: int, profile: bool = False) -> list[dict[str, Any]]:
    """``profile``: sample the daemon with py-spy during the first (cold) ``ls``."""
    from bench.profiler import Profiler, py_spy

    rows: list[dict[str, Any]] = []
    with Mount(ctx.reaper, ctx.root, backend, AGENT) as mount:
        rss0 = mount.rss_kb()
        for label, sub, prefix in (
            ("inbox", "inbox", keys.mailbox_prefix(AGENT)),
            ("memory", "memory/scale", keys.memory_dir_prefix(("scale",))),
        ):
            samples, raw, seen, reqs = [], [], 0, []
            for run in range(runs(n)):
                prof = None
                if profile and run == 0 and py_spy() is not None and mount.pid is not None:
                    prof = Profiler(mount.pid, ctx.root / "profiles" / f"ls-{label}-{n}.raw")
                    prof.__enter__()
                    time.sleep(0.3)  # let py-spy attach
                t0 = time.monotonic()
                s = time.perf_counter()
                try:
                    seen = _ls(f"{mount.path}/{sub}")
                finally:
                    samples.append(time.perf_counter() - s)
                    if prof is not None:
                        prof.__exit__(None, None, None)
                        ctx.results.setdefault("profiles", {})[f"scale: ls {label} {n}"] = (
                            prof.top()
                        )
                if ctx.proxy is not None and backend.kind == "s3":
                    reqs.append(ctx.proxy.count(backend.bucket, t0, time.monotonic()))
            listed = 0
            for _ in range(runs(n)):
                s = time.perf_counter()
                listed = _raw_list(ctx, backend, prefix)
                raw.append(time.perf_counter() - s)
            ls_s, raw_s = summary(samples), summary(raw)
            row = {
                "backend": backend.kind,
                "dir": label,
                "entries": n,
                "ls_first_ms": round(samples[0] * 1000, 1),
                "ls_median_ms": ls_s["median_ms"],
                "raw_list_median_ms": raw_s["median_ms"],
                "ls_entries_seen": seen,
                "raw_entries": listed,
                "ls_requests": reqs,
                "rss_kb_after": mount.rss_kb(),
            }
            rows.append(row)
            ctx.log(
                f"  {backend.kind:5} ls {label:6} n={n:6}: first {row['ls_first_ms']} ms, "
                f"median {row['ls_median_ms']} ms vs raw LIST {row['raw_list_median_ms']} ms; "
                f"saw {seen}; rss {row['rss_kb_after']} kB; requests {reqs}"
            )
        for r in rows:
            r["rss_kb_at_start"] = rss0
    return rows


class Seeded:
    """Buckets of each size, filled (possibly in the background) before ``measure``."""

    def __init__(self, ctx: Ctx, kind: str, sizes: list[int]) -> None:
        self.ctx = ctx
        self.backends = {
            n: ctx.s3_backend(f"scale{n}") if kind == "s3" else ctx.local_backend(f"scale{n}")
            for n in sizes
        }
        self.seconds = 0.0

    def fill(self) -> None:
        s = time.monotonic()
        for n, b in self.backends.items():
            self.ctx.seed(b, items(n), threads=8)
        self.seconds = time.monotonic() - s


def run(ctx: Ctx, seeded: list[Seeded]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for sd in seeded:
        biggest = max(sd.backends)
        for n, b in sd.backends.items():
            try:
                rows += measure(ctx, b, n, profile=b.kind == "s3" and n == biggest)
            except Exception as exc:
                ctx.note(f"scale {b.kind} n={n} could not run: {exc}")
    return {"rows": rows}


def sizes(quick: bool) -> list[int]:
    return [100, 300] if quick else [1000, 10000]

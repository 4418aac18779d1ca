"""Sampling a mount daemon with py-spy while it works, and the frames that dominate.

``Profiler(pid, out)`` runs ``py-spy record --format raw`` against the daemon
for the duration of a ``with`` block; ``top()`` sums the collapsed stacks into
the functions that were on CPU most often (self), the tcfs functions that were
on the stack most often (inclusive), and the share of samples inside botocore
(a request to the store in flight).  Idle threads are not sampled.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


class Profiler:
    def __init__(self, pid: int, out: Path, *, rate: int = 200, max_s: int = 60) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self.max_s = max_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.error: str | None = None

    def __enter__(self) -> Profiler:
        exe = py_spy()
        if exe is None:
            self.error = "py-spy is not installed"
            return self
        self.out.parent.mkdir(parents=True, exist_ok=True)
        argv = [exe, "record", "--pid", str(self.pid), "--rate", str(self.rate)]
        argv += ["--duration", str(self.max_s), "--format", "raw", "-o", str(self.out)]
        argv.append("--nonblocking")  # never pause the daemon being measured
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
        if not self.out.exists():
            self.error = (err or b"").decode(errors="replace")[-300:] or "no profile written"

    def top(self, n: int = 8) -> dict[str, Any]:
        if self.error or not self.out.exists():
            return {"error": self.error or "no profile"}
        self_counts: Counter[str] = Counter()
        incl: Counter[str] = Counter()
        total = in_s3 = 0
        for line in self.out.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            c = int(count)
            total += c
            frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
            frames = [f for f in frames if not f.startswith("thread ")]
            if frames:
                self_counts[_short(frames[-1])] += c
            for f in {_short(f) for f in frames if _ours(f)}:
                incl[f] += c
            if any("botocore/" in f for f in frames):
                in_s3 += c
        if not total:
            return {"error": "no samples (the daemon was idle)"}
        pct = lambda c: round(100 * c / total, 1)  # noqa: E731
        return {
            "samples": total,
            "self": [(f, pct(c)) for f, c in self_counts.most_common(n)],
            "inclusive": [(f, pct(c)) for f, c in incl.most_common(n)],
            "in_botocore_pct": pct(in_s3),
        }


def _ours(frame: str) -> bool:
    where = frame.partition(" (")[2]
    return "site-packages" not in where and (where.startswith("tcfs/") or "/tcfs/" in where)


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/tcfs/", "/bench/", "/lib/python3."):
        if marker in where:
            tail = where.rsplit(marker, 1)[1]
            if marker == "/lib/python3.":
                where = tail.split("/", 1)[-1]  # drop the version directory
            elif marker.startswith("/"):
                where = marker.strip("/") + "/" + tail
            else:
                where = tail
            break
    return f"{name} ({where})" if where else name

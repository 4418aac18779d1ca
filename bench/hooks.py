"""Hook start-up and answer time: ``python -m bench.hooks``.

A harness runs one process per hook call, so the call's whole life counts:
interpreter start-up, imports, the mount reads, the answer.  Each hook runs
as ``tcfs hooks install`` writes it (``python -I -S .../tcfs/hooks/__main__.py``),
beside the floor of a bare interpreter, for a mountpoint that is not mounted
(start-up alone) and for a real mount on the local backend.  The cases run
round-robin, so a burst of load elsewhere on the machine spreads over all of
them; wall time and CPU time (user + system, which other load barely moves)
are both reported.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.mounts import Backend, Mount
from bench.procs import PY, Reaper
from bench.stats import summary
from tcfs.hooks import install
from tcfs.hooks.harness import load

RUNS = 30


def _run(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None
    proc.stdin.write(b"{}")
    proc.stdin.close()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def hook(event: str, where: Path) -> list[str]:
    return shlex.split(install.command(load("claude-code"), event, str(where)))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tcfs-bench-hooks-") as tmp:
        root = Path(tmp)
        os.environ["TCFS_HOME"] = str(root / "tcfs-home")  # the hooks' own state file
        reaper = Reaper()
        try:
            backend = Backend("local", str(root / "bucket"))
            bob = Mount(reaper, root, backend, "bob").start()
            alice = Mount(reaper, root, backend, "alice").start()

            def send() -> None:
                (alice.path / "outbox" / "bob").write_text("hello")

            cases: dict[str, tuple[list[str], Callable[[], None] | None]] = {
                "python -I -S -c pass (the floor)": ([PY, "-I", "-S", "-c", "pass"], None),
                "python -c pass": ([PY, "-c", "pass"], None),
                "tcfs --version (the click CLI)": ([PY, "-m", "tcfs", "--version"], None),
                "hook prompt, not mounted (start-up)": (hook("prompt", root / "nowhere"), None),
                "hook prompt, no mail": (hook("prompt", bob.path), None),
                "hook prompt, one message (answer + ack)": (hook("prompt", bob.path), send),
                "hook stop, no mail": (hook("stop", bob.path), None),
                "hook session-start, no mail": (hook("session-start", bob.path), None),
            }
            wall: dict[str, list[float]] = {k: [] for k in cases}
            cpu: dict[str, list[float]] = {k: [] for k in cases}
            for argv, _ in cases.values():
                _run(argv)  # warm the page cache
            for _ in range(RUNS):
                for name, (argv, before) in cases.items():
                    if before is not None:
                        before()
                    w, c = _run(argv)
                    wall[name].append(w)
                    cpu[name].append(c)
        finally:
            reaper.cleanup()
    width = max(len(k) for k in cases)
    print(f"{'call':<{width}}  wall median  wall p95  cpu median (ms, n={RUNS})")
    rows = {}
    for name in cases:
        w, c = summary(wall[name]), summary(cpu[name])
        rows[name] = {"wall": w, "cpu": c}
        print(
            f"{name:<{width}}  {w['median_ms']:11.1f}  {w['p95_ms']:8.1f}  {c['median_ms']:10.1f}"
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    json.dump(rows, sys.stderr)
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

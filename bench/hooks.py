"""Hook start-up and answer time: ``python -m bench.hooks``.

A harness runs one process per hook call, so the call's whole life counts:
interpreter start-up, imports, the mount reads, the answer.  Measured against
the floor of a bare ``python -S -c pass`` and of ``python -c pass``, for a
mountpoint that is not mounted (start-up alone) and for a real mount on the
local backend with no mail and with one message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.mounts import Backend, Mount
from bench.procs import PY, Reaper
from bench.stats import summary

RUNS = 30


def _time(argv: list[str], stdin: bytes = b"{}") -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, capture_output=True, timeout=30, check=False)
    return time.perf_counter() - start


def sample(argv: list[str], runs: int = RUNS, before: object = None) -> dict[str, float | int]:
    _time(argv)  # warm the page cache
    out = []
    for _ in range(runs):
        if callable(before):
            before()
        out.append(_time(argv))
    return summary(out)


def hook(event: str, where: Path) -> list[str]:
    return [PY, "-m", "tcfs.hooks", "claude-code", event, "--mount", str(where)]


def main() -> int:
    rows: dict[str, dict[str, float | int]] = {}
    rows["python -S -c pass (floor)"] = sample([PY, "-S", "-c", "pass"])
    rows["python -c pass"] = sample([PY, "-c", "pass"])
    rows["tcfs --version (the click CLI)"] = sample([PY, "-m", "tcfs", "--version"], runs=10)
    with tempfile.TemporaryDirectory(prefix="tcfs-bench-hooks-") as tmp:
        root = Path(tmp)
        os.environ["TCFS_HOME"] = str(root / "tcfs-home")  # the hooks' own state file
        rows["hook prompt, not mounted"] = sample(hook("prompt", root / "nowhere"))
        reaper = Reaper()
        try:
            backend = Backend("local", str(root / "bucket"))
            bob = Mount(reaper, root, backend, "bob").start()
            alice = Mount(reaper, root, backend, "alice").start()
            rows["hook prompt, no mail"] = sample(hook("prompt", bob.path))

            def send() -> None:
                (alice.path / "outbox" / "bob").write_text("hello")

            rows["hook prompt, one message (answer + ack)"] = sample(
                hook("prompt", bob.path), before=send
            )
            rows["hook session-start, no mail"] = sample(hook("session-start", bob.path), runs=10)
        finally:
            reaper.cleanup()
    width = max(len(k) for k in rows)
    print(f"{'call':<{width}}  median ms  p95 ms  (n)")
    for name, s in rows.items():
        print(f"{name:<{width}}  {s['median_ms']:9.1f}  {s['p95_ms']:6.1f}  ({s['n']})")
    json.dump(rows, sys.stderr)
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Driving the mount the way agents do: one ``bash -c`` per command, or one long-lived bash.

``Coproc`` keeps one bash alive and feeds it commands on stdin, so a timing
covers the command itself (a fork of ``cat`` or a builtin ``echo``) without
bash's own start-up.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time
import uuid
from typing import Any


def run_quiet(argv: list[str], *, timeout: float = 30, **kwargs: Any) -> int:
    """Run a command with its output discarded; its exit status (-9 if it timed out).

    Waits with a blocking ``waitpid`` and a watchdog timer, not with
    ``subprocess.run(timeout=...)``: that polls with sleeps growing to 50 ms,
    which would round every timing up to its next polling step.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **kwargs,
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        return proc.wait()
    finally:
        watchdog.cancel()


def run_bash(cmd: str, *, timeout: float = 30, env: dict[str, str] | None = None) -> int:
    """Run ``bash -c cmd``; its exit status (output discarded)."""
    return run_quiet(["bash", "-c", cmd], timeout=timeout, env=env)


class Coproc:
    """One persistent bash; ``run(cmd)`` returns the command's exit status."""

    def __init__(self, cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
        )
        self._buf = b""
        self._marker = f"__done_{uuid.uuid4().hex}__".encode()

    def run(self, cmd: str, *, timeout: float = 30) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # Command output goes to /dev/null; only the marker line comes back.
        line = f"{{ {cmd} ; }} >/dev/null; echo {self._marker.decode()} $?\n"
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            idx = self._buf.find(self._marker)
            if idx >= 0:
                end = self._buf.find(b"\n", idx)
                if end >= 0:
                    status = int(self._buf[idx + len(self._marker) : end].strip() or b"1")
                    self._buf = self._buf[end + 1 :]
                    return status
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"bash did not finish {cmd!r} within {timeout}s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError("bash exited")
                self._buf += chunk

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()

    def __enter__(self) -> Coproc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

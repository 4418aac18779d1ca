"""A test's subprocesses: their output when they succeed, and ending them
within a bound, whatever state they are in."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout``; then SIGKILL and wait again."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded."""
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    return proc.stdout

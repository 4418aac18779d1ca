"""``Caller.interrupted`` against a real child process: running, with a
signal pending that it blocks, with one it would take, killed, reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tcfs.fs.callers import Caller
from tests.support.mounts import eventually
from tests.support.procs import stop

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs procfs")

#: blocks SIGUSR1, catches SIGUSR2, then sleeps
CHILD = """
import signal, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
signal.signal(signal.SIGUSR2, lambda *_: None)
print("ready", flush=True)
time.sleep(60)
"""


def _pending(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)


def _bit(sig: signal.Signals) -> int:
    return 1 << (sig - 1)


def test_a_signal_the_caller_would_take_interrupts_it() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        caller = Caller(child.pid, child.pid)
        assert Caller.of(child.pid) == caller  # its own process
        assert not caller.interrupted()  # asleep, nothing pending
        # blocked: pending, but the kernel would not end a call for it
        child.send_signal(signal.SIGUSR1)
        assert eventually(lambda: _pending(child.pid) & _bit(signal.SIGUSR1) != 0, timeout=5)
        assert not caller.interrupted()
        # stopped, a caught signal stays pending as it does for a caller
        # blocked in a FUSE request: that one interrupts
        child.send_signal(signal.SIGSTOP)
        assert eventually(lambda: _state(child.pid) == "T", timeout=5)
        assert not caller.interrupted()
        child.send_signal(signal.SIGUSR2)
        assert eventually(lambda: _pending(child.pid) & _bit(signal.SIGUSR2) != 0, timeout=5)
        assert caller.interrupted()
        # killed and not yet reaped (a zombie), then reaped (gone)
        child.send_signal(signal.SIGKILL)
        assert eventually(lambda: _state(child.pid) == "Z", timeout=5)
        assert caller.interrupted()
        child.wait(timeout=5)
        assert caller.interrupted()
    finally:
        stop(child)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rfind(")") + 2]


def test_a_thread_that_ended_is_answered_for_by_its_process(tmp_path: Path) -> None:
    """The opening thread is gone, its process reads on: still waiting."""
    ended = subprocess.Popen(["true"])
    ended.wait(timeout=10)
    assert not Caller(ended.pid, os.getpid()).interrupted()
    assert Caller(ended.pid, ended.pid).interrupted()
    assert Caller.of(None) is None and Caller.of(0) is None


def test_without_procfs_every_caller_still_waits(tmp_path: Path) -> None:
    """Where there is no procfs to ask (macOS), nothing ends a wait early."""
    assert not Caller(os.getpid(), os.getpid()).interrupted(proc=str(tmp_path))
    assert not Caller(2**22 + 1, 2**22 + 1).interrupted(proc=str(tmp_path))

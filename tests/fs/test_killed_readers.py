"""A blocked read ends with its caller and takes nothing with it.

Once the kernel has sent a read, a killed ``cat`` waits for the daemon's
answer: the mount must notice (``/proc``) and answer at once, consume
nothing for it, and leave nothing open that keeps an unmount busy.  Also:
queued messages are read at request speed, and a glob that matched nothing
is a missing file like in any empty directory.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.support.mounts import FUSERMOUNT, Backend, Mount, sh
from tests.support.procs import stop

pytestmark = pytest.mark.mount

#: a killed reader is reaped within this (the poller looks every 0.15 s)
PROMPT_S = 1.0
#: the mount's own wait timeout: far beyond anything a test waits for
WAIT_S = 120


#: ending a reader does not depend on the backend
local_only = pytest.mark.parametrize("backend", ["local"], indirect=True)


def _blocked_cat(path: object, how: str) -> tuple[subprocess.Popen[bytes], float]:
    """``cat path`` (under ``timeout 3`` for ``how == "timeout"``), blocked;
    then the signal ``how`` names.  Returns the reader and when it was signalled."""
    argv = ["cat", str(path)]
    if how == "timeout":
        argv = ["timeout", "3", *argv]
    reader = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = time.monotonic()
    time.sleep(1.5)
    assert reader.poll() is None, "the read should block: nothing came"
    if how == "timeout":
        return reader, started + 3  # timeout's SIGTERM
    reader.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
    return reader, time.monotonic()


def _reaped_within(reader: subprocess.Popen[bytes], since: float) -> float:
    """Seconds from the signal to the reader's end (it is killed, not answered)."""
    try:
        reader.wait(timeout=10)
    finally:
        if reader.poll() is None:
            stop(reader)
    took = time.monotonic() - since
    assert reader.returncode != 0
    assert reader.stdout is not None and reader.stdout.read() == b""
    return took


def _unread(m: Mount) -> list[str]:
    r = sh(f"cat {m / 'inbox/unread'}")
    assert r.returncode == 0, r.stderr
    return [u["text"].strip() for u in json.loads(r.stdout)["unread"]]


@local_only
@pytest.mark.parametrize("how", ["timeout", "sigint", "sigkill"])
def test_a_killed_inbox_reader_ends_at_once_and_takes_no_message(
    mount, backend: Backend, how: str
) -> None:
    alice, bob = mount("alice", wait_timeout=WAIT_S), mount("bob")
    reader, since = _blocked_cat(alice / "inbox/next", how)
    assert _reaped_within(reader, since) < PROMPT_S
    assert sh(f"echo 'after the kill' > {bob / 'outbox/alice'}").returncode == 0
    # the dead reader took nothing: the message is unread, and the next reader gets it
    assert _unread(alice) == ["after the kill"]
    r = sh(f"cat {alice / 'inbox/next'}", timeout=30)
    assert r.returncode == 0 and r.stdout == "after the kill\n", r.stderr
    assert _unread(alice) == []


@local_only
@pytest.mark.parametrize("how", ["timeout", "sigint", "sigkill"])
def test_a_killed_step_waiter_ends_at_once(mount, backend: Backend, how: str) -> None:
    alice = mount("alice", wait_timeout=WAIT_S)
    reader, since = _blocked_cat(alice / "steps/build/wait", how)
    assert _reaped_within(reader, since) < PROMPT_S
    assert sh(f"echo me > {alice / 'steps/build/claim'}").returncode == 0
    assert sh(f"echo done > {alice / 'steps/build/handoff'}").returncode == 0
    r = sh(f"cat {alice / 'steps/build/wait'}", timeout=30)
    assert r.returncode == 0 and r.stdout == "complete\n", r.stderr


@local_only
@pytest.mark.parametrize("unmount", ["fusermount", "tcfs"])
def test_the_mount_unmounts_right_after_a_killed_reader(
    mount, backend: Backend, unmount: str
) -> None:
    alice = mount("alice", wait_timeout=WAIT_S)
    reader, since = _blocked_cat(alice / "inbox/next", "sigkill")
    assert _reaped_within(reader, since) < PROMPT_S
    if unmount == "fusermount":
        assert FUSERMOUNT is not None
        argv = [FUSERMOUNT, "-u", str(alice.path)]  # not lazy: refused while busy
    else:
        argv = [sys.executable, "-m", "tcfs", "umount", str(alice.path)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    alice.proc.wait(timeout=20)
    assert "unmounted" in alice.log_text()


def test_queued_messages_are_read_at_request_speed(mount, backend: Backend) -> None:
    alice, bob = mount("alice", wait_timeout=10), mount("bob")
    sent = [f"message {i:02d}" for i in range(20)]
    script = "; ".join(f"echo '{text}' > {bob / 'outbox/alice'}" for text in sent)
    assert sh(script, timeout=60).returncode == 0
    started = time.monotonic()
    r = sh(f"for i in $(seq 20); do cat {alice / 'inbox/next'} || exit 1; done", timeout=60)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    # in order, none lost, none twice
    assert r.stdout.splitlines() == sent
    # one pass is 1 s apart from the next: 20 readers served by passes take 19 s
    assert took < 5, f"20 queued messages took {took:.1f}s"
    assert _unread(alice) == []


@local_only
def test_a_glob_that_matched_nothing_is_no_such_file(mount, backend: Backend) -> None:
    alice = mount("alice")
    for pattern in ("inbox/*", "steps/*/status", "memory/*", "inbox/m?"):
        r = sh(f"cat {alice / pattern}")
        assert r.returncode != 0 and "No such file or directory" in r.stderr, (pattern, r.stderr)
    # such a name is still refused, with its reason, where it would be created
    r = sh(f"echo hi > '{alice / 'outbox/a*'}'")
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr

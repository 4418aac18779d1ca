"""No double delivery on one mount: a read of ``inbox/unread`` holds what it
returned, so a ``cat inbox/next`` of the same agent does not deliver it too;
the hold ends with the acknowledgement, or lapses (the hook died) and then the
message is delivered once, through ``inbox/next``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tcfs.protocol import Project
from tcfs.protocol.doorbells import Doorbells
from tcfs.protocol.messages import Messages
from tcfs.protocol.reservations import HOLD_S, Reservations
from tests.fs.conftest import sh

pytestmark = pytest.mark.mount


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_holds_end_by_release_delivery_lapse_or_a_gone_group() -> None:
    clock = Clock()
    r = Reservations(hold_s=5, clock=clock)
    assert r.take(["a", "b", "c"], limit=2) == ["a", "b"]
    assert r.take(["a", "c"]) == ["c"]  # a is held: only c is free
    assert not r.lapsed()
    r.delivered(["a"])  # read now: held quietly against stale listings
    assert r.holds("a") and sorted(r.held()) == ["b", "c"]
    assert r.take(["a"]) == []  # not for a peek, which may have listed it before the cursor moved
    assert r.take(["a"], consuming=True) == ["a"]  # a compare-and-swap cannot be fooled
    r.delivered(["a"])
    r.release(["b"])
    assert r.lapsed() and not r.lapsed()  # told once: readers that skipped b look again
    clock.now += 5
    assert not r.holds("c") and not r.holds("a")
    assert r.lapsed()  # c ran out unacknowledged; a (delivered) went quietly
    assert r.take(["a"]) == ["a"]

    # a group that is gone ends its holds at once
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert r.take(["g"], owner=proc.pid) == ["g"] and r.holds("g")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert not r.holds("g")


def _unread(path: Path, *, own_group: bool) -> dict[str, list[dict[str, object]]]:
    out = sh(f"cat {path}/inbox/unread", start_new_session=own_group)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _next_reader(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["cat", f"{path}/inbox/next"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise
    return proc.returncode, out


@pytest.mark.parametrize("backend", ["local", "s3"], indirect=True)
def test_inbox_next_skips_what_a_hook_holds_until_its_ack(mount) -> None:  # type: ignore[no-untyped-def]
    alice, bob = mount("alice"), mount("bob", wait_timeout=15)
    assert sh(f"echo 'FIRST for the hook' > {alice.path}/outbox/bob").returncode == 0
    # the hook's read: from this test's process group, which lives on (as a harness does)
    shown = _unread(bob.path, own_group=False)["unread"]
    assert [m["text"] for m in shown] == ["FIRST for the hook"]
    reader = _next_reader(bob.path)  # blocks: the only unread message is held
    try:
        # another read on the mount sees it held, not unread
        other = _unread(bob.path, own_group=True)
        assert other["unread"] == [] and [r["name"] for r in other["reserved"]] == [
            shown[0]["name"]
        ]
        time.sleep(1.0)  # the reader's first look has come and gone (either way it must skip)
        assert reader.poll() is None
        assert sh(f"echo {shown[0]['name']} > {bob.path}/inbox/ack").returncode == 0  # the ack
        assert sh(f"echo 'SECOND for inbox/next' > {alice.path}/outbox/bob").returncode == 0
        code, out = _finish(reader)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.communicate(timeout=10)
    assert code == 0 and out == "SECOND for inbox/next\n"  # never the hook's message
    assert _unread(bob.path, own_group=True)["unread"] == []
    assert sh(f"cat {bob.path}/inbox/next", timeout=30).returncode != 0  # nothing left


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_dead_hooks_hold_lapses_and_inbox_next_delivers_once(mount) -> None:  # type: ignore[no-untyped-def]
    alice, bob = mount("alice"), mount("bob", wait_timeout=15)
    assert sh(f"echo 'ORPHANED by a dead hook' > {alice.path}/outbox/bob").returncode == 0
    before = time.monotonic()
    # a hook that read inbox/unread and was killed before its ack, while its
    # harness (this test's process group) lives on: only the lapse frees it
    hook = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"open({str(bob.path / 'inbox/unread')!r}).read(); print('read', flush=True); "
            "import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert hook.stdout is not None and hook.stdout.readline() == "read\n"
    finally:
        hook.send_signal(signal.SIGKILL)
        hook.wait(timeout=10)
    code, out = _finish(_next_reader(bob.path))
    assert code == 0 and out == "ORPHANED by a dead hook\n"
    assert time.monotonic() - before >= HOLD_S  # not before the hold lapsed
    assert _unread(bob.path, own_group=True)["unread"] == []
    assert sh(f"cat {bob.path}/inbox/next", timeout=30).returncode != 0  # delivered once

    # a hook in a process group of its own that dies frees its messages at once
    assert sh(f"echo 'FREED at once' > {alice.path}/outbox/bob").returncode == 0
    lone = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"open({str(bob.path / 'inbox/unread')!r}).read(); import os; os.kill(os.getpid(), 9)",
        ],
        start_new_session=True,
    )
    lone.wait(timeout=30)
    assert [m["text"] for m in _unread(bob.path, own_group=True)["unread"]] == ["FREED at once"]
    code, out = _finish(_next_reader(bob.path))  # that read's hold ended with its cat
    assert code == 0 and out == "FREED at once\n"
    assert os.path.ismount(bob.path)


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_reader_blocked_first_skips_what_the_hook_holds(mount, backend) -> None:  # type: ignore[no-untyped-def]
    """``cat inbox/next`` blocks first; the message lands without a bell (as
    from the tracecraft CLI), so the hook surely reads it first; only then
    the bell rings, and the reader's pass finds it held."""
    bob = mount("bob", wait_timeout=20, extra=["--sweep", "300"])
    reader = _next_reader(bob.path)
    try:
        time.sleep(1.0)
        assert reader.poll() is None
        quiet = Messages(backend.store, "alice")  # sends without ringing
        sent = quiet.send("bob", "HELD while the reader blocks")
        shown = _unread(bob.path, own_group=False)["unread"]  # the hook's read
        assert [m["name"] for m in shown] == [sent.name]
        bells = Doorbells(backend.store, "alice")
        bells.ring("bob")  # the reader's next pass reads the mailbox: the message is held
        bells.close()
        time.sleep(2.0)
        assert reader.poll() is None
        assert sh(f"echo {sent.name} > {bob.path}/inbox/ack").returncode == 0
        Project(backend.store, "alice").messages.send("bob", "AFTER the ack")
        code, out = _finish(reader)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.communicate(timeout=10)
    assert code == 0 and out == "AFTER the ack\n"

"""No double delivery on one mount: a read of ``inbox/unread`` holds what it
returned, so a ``cat inbox/next`` of the same agent does not deliver it too;
the hold ends with the acknowledgement, or lapses (the hook died) and then the
message is delivered once, through ``inbox/next``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tcfs.protocol import Project
from tcfs.protocol.doorbells import Doorbells
from tcfs.protocol.holds import HOLD_S, Holds
from tcfs.protocol.messages import Messages
from tests.hooks.conftest import Hook
from tests.support.mounts import sh

pytestmark = pytest.mark.mount


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_holds_end_by_release_delivery_lapse_or_a_gone_process() -> None:
    clock = Clock()
    r = Holds(hold_s=5, clock=clock)
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

    # a process that is gone ends its holds at once, a zombie included
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert r.take(["g"], owner=proc.pid) == ["g"] and r.holds("g")
        proc.kill()
        time.sleep(0.5)  # exited, not yet reaped: a zombie
        assert not r.holds("g")
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _unread(path: Path) -> dict[str, list[dict[str, object]]]:
    out = sh(f"cat {path}/inbox/unread")
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
    hook = Hook(bob.path)  # the hook's read; it lives on until its ack
    assert [m["text"] for m in hook.shown] == ["FIRST for the hook"]
    reader = _next_reader(bob.path)  # blocks: the only unread message is held
    try:
        # another read on the mount sees it held, not unread
        other = _unread(bob.path)
        assert other["unread"] == [] and [r["name"] for r in other["reserved"]] == [
            hook.shown[0]["name"]
        ]
        time.sleep(1.0)  # the reader's first look has come and gone (either way it must skip)
        assert reader.poll() is None
        hook.tell("ack")
        assert sh(f"echo 'SECOND for inbox/next' > {alice.path}/outbox/bob").returncode == 0
        code, out = _finish(reader)
    finally:
        hook.kill()
        if reader.poll() is None:
            reader.kill()
            reader.communicate(timeout=10)
    assert code == 0 and out == "SECOND for inbox/next\n"  # never the hook's message
    assert _unread(bob.path)["unread"] == []
    assert sh(f"cat {bob.path}/inbox/next", timeout=30).returncode != 0  # nothing left


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_hung_hooks_hold_lapses_a_dead_hooks_ends_and_each_message_comes_once(mount) -> None:  # type: ignore[no-untyped-def]
    alice, bob = mount("alice"), mount("bob", wait_timeout=15)
    assert sh(f"echo 'STUCK with a hung hook' > {alice.path}/outbox/bob").returncode == 0
    before = time.monotonic()
    hook = Hook(bob.path)  # read, then hangs without acknowledging: only the lapse frees it
    try:
        assert [m["text"] for m in hook.shown] == ["STUCK with a hung hook"]
        hook.tell("hang")
        code, out = _finish(_next_reader(bob.path))
        assert code == 0 and out == "STUCK with a hung hook\n"
        assert time.monotonic() - before >= HOLD_S  # not before the hold lapsed
    finally:
        hook.kill()
    assert _unread(bob.path)["unread"] == []
    assert sh(f"cat {bob.path}/inbox/next", timeout=30).returncode != 0  # delivered once

    # a hook killed before its ack frees its messages at once, not after the lapse
    assert sh(f"echo 'FREED at once' > {alice.path}/outbox/bob").returncode == 0
    hook = Hook(bob.path)
    assert [m["text"] for m in hook.shown] == ["FREED at once"]
    assert _unread(bob.path)["unread"] == []  # held while it lives
    hook.kill()
    assert [m["text"] for m in _unread(bob.path)["unread"]] == ["FREED at once"]
    code, out = _finish(_next_reader(bob.path))
    assert code == 0 and out == "FREED at once\n"
    assert os.path.ismount(bob.path)


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_reader_blocked_first_skips_what_the_hook_holds(mount, backend) -> None:  # type: ignore[no-untyped-def]
    """``cat inbox/next`` blocks first; the message lands without a bell (as
    from the tracecraft CLI), so the hook surely reads it first; only then
    the bell rings, and the reader's pass finds it held."""
    bob = mount("bob", wait_timeout=20, extra=["--sweep", "300"])
    reader = _next_reader(bob.path)
    hook: Hook | None = None
    try:
        time.sleep(1.0)
        assert reader.poll() is None
        quiet = Messages(backend.store, "alice")  # sends without ringing
        sent = quiet.send("bob", "HELD while the reader blocks")
        hook = Hook(bob.path)  # the hook's read
        assert [m["name"] for m in hook.shown] == [sent.name]
        bells = Doorbells(backend.store, "alice")
        bells.ring("bob")  # the reader's next pass reads the mailbox: the message is held
        bells.close()
        time.sleep(2.0)
        assert reader.poll() is None
        hook.tell("ack")
        Project(backend.store, "alice").messages.send("bob", "AFTER the ack")
        code, out = _finish(reader)
    finally:
        if hook is not None:
            hook.kill()
        if reader.poll() is None:
            reader.kill()
            reader.communicate(timeout=10)
    assert code == 0 and out == "AFTER the ack\n"

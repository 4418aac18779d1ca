"""The waker behind ``tcfs mount --wake``: mail nobody took for a while runs
the command once, with the messages in a private file, and marks them read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tcfs.fs.wake import Waker, check_command
from tcfs.protocol import Project
from tcfs.store.local import LocalStore
from tests.support.mounts import eventually, sh


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait(waker: Waker) -> None:
    assert waker.proc is not None
    waker.proc.wait(timeout=30)


def _told(waker: Waker) -> bool:
    """The poller said mail may have come; one round of the waker."""
    waker.notify()
    return waker.step()


def test_wakes_once_for_mail_nobody_took(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket", "proj")
    alice, bob = Project(store, "alice"), Project(store, "bob")
    out, stdin = tmp_path / "woken.txt", tmp_path / "stdin.txt"
    script = (
        f"import shutil,sys; shutil.copy(sys.argv[1], {str(out)!r}); "
        f"open({str(stdin)!r}, 'w').write(sys.stdin.read())"
    )
    clock = Clock()
    command = f"{sys.executable} -c {script!r} {{message_file}}"
    waker = Waker(bob.messages, command, tmp_path / "spool", after=30, clock=clock)

    assert not waker.step() and waker.looks == 0  # no news: no request at all
    assert not _told(waker) and waker.next_wait() is None  # news, but nothing came
    alice.messages.send("bob", "please rebase", step="api")
    assert not _told(waker)  # too fresh: a live session would take it at its next prompt
    assert waker.next_wait() == 30
    clock.now += 31
    looks = waker.looks
    assert waker.step()  # due: no news needed
    assert waker.looks == looks + 1
    _wait(waker)
    text = out.read_text()
    assert "from alice (direct, step api)" in text and "| please rebase" in text
    assert stdin.read_text() == text  # the file came on stdin too
    assert bob.messages.unread() == []  # the file delivered it
    clock.now += 100
    assert not waker.step()  # reaped; nothing new
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["wake.log"]
    assert oct((tmp_path / "spool" / "wake.log").stat().st_mode & 0o777) == "0o600"

    # mail a session took in time wakes nobody
    sent = alice.messages.send("bob", "taken by the hook")
    assert not _told(waker)
    bob.messages.ack([sent.name])
    clock.now += 100
    assert not waker.step() and waker.next_wait() is None


def test_mail_a_hook_holds_wakes_nobody(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket", "proj")
    alice, bob = Project(store, "alice"), Project(store, "bob")
    clock = Clock()
    waker = Waker(bob.messages, "true {message_file}", tmp_path / "spool", after=0, clock=clock)
    sent = alice.messages.send("bob", "a hook is showing this")
    assert [m.name for m in bob.messages.reserve_unread()] == [sent.name]  # a hook read it
    assert not _told(waker)  # a live session is taking it
    bob.messages.holds.release([sent.name])  # the hook died before its ack
    assert _told(waker)
    waker.stop()


def test_one_at_a_time_and_bounded(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket", "proj")
    alice, bob = Project(store, "alice"), Project(store, "bob")
    clock = Clock()
    waker = Waker(
        bob.messages,
        "sh -c 'sleep 30' {message_file}",
        tmp_path / "spool",
        after=0,
        timeout=5,
        clock=clock,
    )
    alice.messages.send("bob", "one")
    assert _told(waker)
    first = waker.proc
    alice.messages.send("bob", "two")
    assert not _told(waker)  # the first still runs: "two" waits for it
    assert [m.text for m in bob.messages.unread()] == ["two"]
    clock.now += 6
    assert waker.step()  # the first is killed past its timeout, and "two" wakes again
    assert first is not None and first.returncode is not None and waker.proc is not first
    waker.stop()
    assert waker.proc is not None and waker.proc.poll() is not None


def test_the_command_is_checked() -> None:
    with pytest.raises(ValueError, match="no such program"):
        check_command("no-such-harness-anywhere -p hello")
    with pytest.raises(ValueError, match="needs a command"):
        check_command("")
    with pytest.raises(ValueError, match="quotation"):
        check_command("claude -p 'unclosed")
    assert check_command("sh -c 'cat' '{message_file}'") == ["sh", "-c", "cat", "{message_file}"]
    assert check_command("true") == ["true"]  # the file still comes on stdin


@pytest.mark.mount
@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_mount_wakes_its_idle_agent(mount, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "woken.txt"
    command = f"sh -c 'cp \"$0\" {out}' {{message_file}}"
    alice = mount("alice")
    bob = mount("bob", extra=["--wake", command, "--wake-after", "1"])
    assert sh(f"echo 'wake up, review api' > {alice.path}/outbox/bob").returncode == 0
    assert eventually(lambda: out.exists() and "wake up, review api" in out.read_text(), 40)
    assert "from alice (direct)" in out.read_text()
    unread = sh(f"cat {bob.path}/inbox/unread")
    assert json.loads(unread.stdout)["unread"] == []  # delivered once, by the file
    assert "wake: started" in bob.log_text()


def test_a_wake_command_that_cannot_run_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tcfs", "mount", str(tmp_path / "mnt"), "--wake", "nope-nope -p hi"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "nope-nope: no such program" in proc.stderr


def test_the_output_log_is_set_aside_past_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tcfs.fs import wake

    monkeypatch.setattr(wake, "LOG_MAX_BYTES", 64)
    store = LocalStore(tmp_path / "bucket", "proj")
    alice, bob = Project(store, "alice"), Project(store, "bob")
    clock = Clock()
    script = "import sys; print(open(sys.argv[1]).read())"
    command = f"{sys.executable} -c {script!r} {{message_file}}"
    waker = Waker(bob.messages, command, tmp_path / "spool", after=30, clock=clock)
    log = tmp_path / "spool" / "wake.log"
    for text in ("first " * 20, "second"):
        alice.messages.send("bob", text)
        assert not _told(waker)
        clock.now += 31
        assert waker.step()
        _wait(waker)
        clock.now += 100
        assert not waker.step()  # reaped
    assert "second" in log.read_text() and "first" not in log.read_text()
    older = tmp_path / "spool" / "wake.log.1"
    assert "first first" in older.read_text()  # the earlier output is kept, once
    assert oct(log.stat().st_mode & 0o777) == oct(older.stat().st_mode & 0o777) == "0o600"

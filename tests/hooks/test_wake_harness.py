"""``tcfs mount --wake`` with the real Claude Code (pinned in
``tests/support/harnesses/install.py``) against the fake model server on loopback:
mail sent from another mount while no Claude session runs starts
``claude -p --resume SESSION``, whose model request carries the message; the
message is then read (``inbox/next`` has nothing, a hook does not show it
again); a message sent while the woken command runs waits for it.  Also: a
wake command that hangs is killed at its timeout and the mount stays healthy,
and an idle ``--wake`` mount sends no LIST."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path

import pytest

from tcfs.protocol import keys
from tests.hooks.conftest import TURN_S, run_hook
from tests.hooks.runs import RUNS
from tests.support.fakemodel import FakeModel, Script, ToolCall
from tests.support.harnesses.install import install
from tests.support.harnesses.programs import run_turn
from tests.support.mounts import eventually, sh

pytestmark = [pytest.mark.mount, pytest.mark.slow]

STARTED = re.compile(r"wake: started .* \(pid (\d+)\) for \[(.*)\]")
EXITED = re.compile(r"wake: \S+ \(pid (\d+)\) exited with (-?\d+)")


def wake_events(log: str) -> list[tuple[str, str]]:
    """("started" | "exited", pid) in the order the mount logged them."""
    out = []
    for line in log.splitlines():
        if m := STARTED.search(line):
            out.append(("started", m.group(1)))
        elif m := EXITED.search(line):
            out.append(("exited", m.group(1)))
    return out


@pytest.mark.harness
@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_claude_is_woken_with_the_mail(mount, tmp_path: Path, tcfs_home: Path) -> None:  # type: ignore[no-untyped-def]
    claude = install("claude-code")
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    # the woken turn runs a command for a while: the second message comes meanwhile
    script = Script().on("WAKE-ONE", ToolCall(("Bash",), {"command": "sleep 8"}), times=1)
    session = str(uuid.uuid4())
    with FakeModel(script) as model:
        env = claude.env(
            {
                "PATH": os.environ["PATH"],
                "HOME": str(home),
                "CLAUDE_CONFIG_DIR": str(home / ".claude"),  # the mount's woken one too
                "TCFS_HOME": str(tcfs_home),
                **RUNS["claude-code"].env(model, home, project),
            }
        )
        # the agent's earlier session, which the wake resumes
        run_turn(
            claude, env, ["-p", "--session-id", session, "SETUP-TURN"], project, timeout=TURN_S
        )
        before = len(model.answered("anthropic"))

        command = (
            f"{claude.executable} -p --resume {session} "
            "'You have new tcfs mail, above (also in {message_file}). Act on it.' "
            "--allowedTools Bash"
        )
        alice = mount("alice")
        bob = mount(
            "bob",
            wait_timeout=3,
            env=env,
            cwd=project,
            extra=["--wake", command, "--wake-after", "1", "--wake-timeout", "120"],
        )

        def woken(marker: str) -> list[str]:
            bodies = [json.dumps(r.body) for r in model.answered("anthropic")[before:]]
            return [b for b in bodies if marker in b]

        assert (
            sh(f"echo 'WAKE-ONE please review step api' > {alice.path}/outbox/bob").returncode == 0
        )
        sent = time.monotonic()
        assert eventually(lambda: bool(woken("WAKE-ONE")), 90), bob.log_text()[-3000:]
        print(f"woken Claude reached the model {time.monotonic() - sent:.1f}s after the send")
        hit = woken("WAKE-ONE")[0]
        assert "from alice (direct" in hit  # the message as a hook shows it, from stdin
        assert "SETUP-TURN" in hit  # the very session, resumed
        # while the woken command runs (its tool call sleeps), a second message
        assert sh(f"echo 'WAKE-TWO and then deploy' > {alice.path}/outbox/bob").returncode == 0
        assert eventually(lambda: bool(woken("WAKE-TWO")), 120), bob.log_text()[-3000:]
        assert eventually(lambda: len(wake_events(bob.log_text())) == 4, 60), bob.log_text()

    events = wake_events(bob.log_text())
    first_pid, second_pid = events[0][1], events[2][1]
    # one at a time: the second started only after the first exited
    assert events == [
        ("started", first_pid),
        ("exited", first_pid),
        ("started", second_pid),
        ("exited", second_pid),
    ]
    assert "exited with 0" in bob.log_text()
    # delivered once: nothing unread, inbox/next has nothing, a hook shows nothing
    assert json.loads(sh(f"cat {bob.path}/inbox/unread").stdout)["unread"] == []
    assert sh(f"cat {bob.path}/inbox/next", timeout=30).returncode != 0
    assert run_hook("claude-code", "prompt", bob.path).out == {}
    spool = tcfs_home / "run" / "wake"
    assert not list(spool.glob("wake-*.txt"))  # the message files went with their commands


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_hanging_wake_command_is_killed_at_its_timeout(mount, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    child = tmp_path / "child.pid"
    hang = f"sh -c 'sleep 600 & echo $! > {child}; wait' {{message_file}}"
    alice = mount("alice")
    bob = mount(
        "bob",
        wait_timeout=3,
        extra=["--wake", hang, "--wake-after", "0", "--wake-timeout", "3"],
    )
    assert sh(f"echo 'hang on' > {alice.path}/outbox/bob").returncode == 0
    assert eventually(lambda: "ran past 3s; killing it" in bob.log_text(), 60), bob.log_text()
    assert eventually(lambda: "exited with -9" in bob.log_text(), 30), bob.log_text()
    pid = int(child.read_text())
    assert eventually(lambda: not _alive(pid), 10)  # what it started went with it
    # the mount is healthy: it lists, reads, sends and wakes again
    assert sh(f"ls {bob.path}/inbox").stdout.split() != []
    assert sh(f"echo 'still here' > {bob.path}/outbox/alice").returncode == 0
    assert sh(f"echo 'again' > {alice.path}/outbox/bob").returncode == 0
    assert eventually(lambda: len(STARTED.findall(bob.log_text())) == 2, 60), bob.log_text()
    assert json.loads(sh(f"cat {bob.path}/inbox/unread").stdout)["unread"] == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie has ended
    except OSError:
        return False


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_an_idle_wake_mount_sends_no_list(mount, proxied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "woken.txt"
    bob = mount(
        "bob",
        extra=[
            "--endpoint",
            proxied.endpoint,
            "--sweep",
            "300",
            "--wake",
            f"sh -c 'cp \"$0\" {out}' {{message_file}}",
            "--wake-after",
            "0",
        ],
    )
    time.sleep(3)  # the mount's start and the watch's first look are done
    start = len(proxied.requests)
    time.sleep(12)
    window = proxied.requests[start:]
    lists = [r.target for r in window if "list-type" in r.target]
    bells = [r for r in window if r.method == "GET" and keys.BELL_LEAF in r.target]
    print(f"idle --wake mount, 12 s: {len(window)} requests, {len(bells)} bell GETs, {lists}")
    assert lists == []  # no LIST while no mail comes
    assert 1 <= len(bells) <= 6, [r.target for r in window]  # a bell every 5 s, not every 1 s
    alice = mount("alice", extra=["--endpoint", proxied.endpoint])
    assert sh(f"echo 'ring ring' > {alice.path}/outbox/bob").returncode == 0
    assert eventually(lambda: out.exists() and "ring ring" in out.read_text(), 60), bob.log_text()

"""The real harness programs (pinned in ``tests/support/harnesses/install.py``) against
the fake model server on loopback, with tcfs's hooks installed by
``tcfs hooks install``: mail sent from another mount shows up in what the
harness sends the model during the agent's next turn, exactly once, and mail
sent while a turn runs reaches the model before the harness stops.  OpenClaw,
which runs its turns in a gateway, has a test of its own at the end (about two
minutes: one gateway, eight turns)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.conftest import TURN_S
from tests.hooks.frames import FORGED, frames, strings
from tests.hooks.runs import RUNS, hooked_env
from tests.support.fakemodel import Conversation, FakeModel, Script, Text, ToolCall
from tests.support.harnesses.install import install
from tests.support.harnesses.programs import OPENCLAW_FLAGS, PROGRAMS, base_env, run_turn
from tests.support.loopback_proxy import LoopbackProxy, Request
from tests.support.mounts import sh
from tests.support.s3server import MotoServer

pytestmark = [pytest.mark.mount, pytest.mark.harness, pytest.mark.slow]


@pytest.mark.parametrize("backend", ["local"], indirect=True)
@pytest.mark.parametrize("harness", sorted(RUNS))
def test_mail_reaches_the_next_turn_once(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount, tcfs_home: Path, harness: str
) -> None:
    run = RUNS[harness]
    alice, bob = mount("alice"), mount("bob", wait_timeout=2)
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    during = f"echo 'MAIL-DURING-TURN rebase first' > {alice.path}/outbox/bob"
    script = Script().on("TURN-THREE", ToolCall((run.shell_tool,), {run.command_arg: during}))
    program = install(harness)

    with FakeModel(script) as model:
        env = hooked_env(program, harness, model, home, project, tcfs_home, bob.path)

        def turn(prompt: str) -> list[str]:
            seen = len(model.answered(run.api))
            run_turn(program, env, run.argv(prompt), project, timeout=TURN_S)
            return [json.dumps(r.body) for r in model.answered(run.api)[seen:]]

        def delivered(body: str) -> bool:
            # the message as a hook delivers it (the tool call's command names the text too)
            return "from alice (direct" in body and "MAIL-DURING" in body

        # the first mail's text imitates the frame: a fake end and a fake sender
        forged = shlex.quote("MAIL-ONE please take step api\n" + FORGED)
        assert sh(f"printf '%s' {forged} > {alice.path}/outbox/bob").returncode == 0
        first = turn("TURN-ONE")
        assert any("MAIL-ONE please take step api" in b for b in first), first[-1:]
        framed = [
            frames(s)
            for b in first
            for s in strings(json.loads(b))
            if "MAIL-ONE" in s and "carry the tag" in s
        ]
        assert framed, "the mail never reached the model in its frame"
        # one message, from its real sender, its text whole
        assert framed[0] == [("alice", ["MAIL-ONE please take step api", *FORGED.split("\n")])]
        assert any("You are agent 'bob'" in b for b in first)  # the session start's context

        second = turn("TURN-TWO")
        assert second and not any("MAIL-ONE" in b for b in second)
        assert sh(f"cat {bob.path}/inbox/next", timeout=20).returncode != 0  # nothing unread

        third = turn("TURN-THREE")
        hit = [i for i, b in enumerate(third) if delivered(b)]
        if run.holds_turn:
            assert hit, "the message sent during the turn never reached the model"
            assert hit[0] > 0  # after the tool ran: the turn-end hook held the turn open
        else:
            assert not hit
            assert any(delivered(b) for b in turn("TURN-FOUR"))

    out = sh(f"cat {bob.path}/inbox/unread")
    assert json.loads(out.stdout)["unread"] == []


# ------------------------------------------------------------------ OpenClaw


@pytest.fixture
def gated(moto_server: MotoServer) -> Iterator[tuple[LoopbackProxy, dict[str, bool]]]:
    """A loopback proxy to the bucket that answers 503 to everything while down."""
    down = {"on": False}

    def gate(req: Request) -> str | tuple[int, bytes]:
        return (503, b"<Error><Code>ServiceUnavailable</Code></Error>") if down["on"] else "forward"

    proxy = LoopbackProxy(moto_server.port, gate)
    try:
        yield proxy, down
    finally:
        proxy.close()


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_openclaw_mail_reaches_the_next_turn_once(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount, tcfs_home: Path, gated: tuple[LoopbackProxy, dict[str, bool]]
) -> None:
    """OpenClaw, driven as ``tests/harnesses`` drives it (its gateway on a
    loopback port, ``openclaw agent`` turns), with the checks above.  OpenClaw
    gives the model one more pass at turn end only when no tool ran in the
    turn: mail sent while the model thinks reaches it before the turn ends;
    mail a tool sent waits, unread, for the next turn.  Then one turn each with
    bob's daemon stopped, its bucket down, and it unmounted: each completes,
    and the model is told what is wrong."""
    proxy, down = gated
    program = PROGRAMS["openclaw"]
    alice = mount("alice")
    bob = mount("bob", wait_timeout=2, extra=["--endpoint", f"http://127.0.0.1:{proxy.port}"])
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    sent: list[str] = []

    def mail_while_thinking(conv: Conversation) -> bool:
        if "TURN-FIVE" in conv.last and not sent:
            sent.append(sh(f"echo 'MAIL-WHILE-THINKING' > {alice.path}/outbox/bob").stderr)
        return False  # the model then answers as usual

    during = f"echo 'MAIL-DURING-TURN rebase first' > {alice.path}/outbox/bob"
    script = (
        Script()
        .on(mail_while_thinking, Text("unused"))
        .on("TURN-THREE", ToolCall(("exec",), {"command": during}))
    )
    installed = install("openclaw")

    with FakeModel(script) as model:
        env = installed.env({**base_env(home), "TCFS_HOME": str(tcfs_home)})
        env.update(program.configure(model.url, home, project))
        argv = [
            sys.executable,
            "-m",
            "tcfs",
            "hooks",
            "install",
            "openclaw",
            "--mount",
            str(bob.path),
        ]
        inst = subprocess.run(
            argv, cwd=project, env=env, capture_output=True, text=True, timeout=60
        )
        assert inst.returncode == 0, inst.stderr
        assert (home / ".openclaw" / "extensions" / "tcfs" / "index.js").is_file()

        def turn(prompt: str) -> tuple[list[str], float]:
            seen = len(model.answered("chat"))
            start = time.monotonic()
            run_turn(installed, env, [*OPENCLAW_FLAGS, prompt], project)
            took = time.monotonic() - start
            return [json.dumps(r.body) for r in model.answered("chat")[seen:]], took

        def delivered(body: str, text: str) -> bool:
            return "from alice (direct" in body and text in body

        def unread() -> list[object]:
            return list(json.loads(sh(f"cat {bob.path}/inbox/unread").stdout)["unread"])

        with program.running(installed, env, project):
            assert (
                sh(f"echo 'MAIL-ONE please take step api' > {alice.path}/outbox/bob").returncode
                == 0
            )
            first, _ = turn("TURN-ONE")
            assert any("MAIL-ONE please take step api" in b for b in first), first[-1:]
            assert any("You are agent 'bob'" in b for b in first)  # the session start's context

            second, took = turn("TURN-TWO")
            assert second and not any("MAIL-ONE" in b for b in second)
            assert sh(f"cat {bob.path}/inbox/next", timeout=20).returncode != 0  # nothing unread

            # a tool sends mail: OpenClaw would not revise after it, so tcfs does not ask
            third, _ = turn("TURN-THREE")
            assert not any(delivered(b, "MAIL-DURING") for b in third)
            assert len(unread()) == 1  # not lost: still unread
            fourth, _ = turn("TURN-FOUR")
            assert delivered(fourth[0], "MAIL-DURING")
            assert unread() == []

            # mail while the model thinks, no tool: one more pass before the turn ends
            fifth, _ = turn("TURN-FIVE")
            assert sent == [""]
            hit = [i for i, b in enumerate(fifth) if delivered(b, "MAIL-WHILE-THINKING")]
            assert hit and hit[0] > 0, "the message sent during the turn never reached the model"
            assert unread() == []

            timings = {"healthy": took}
            os.kill(bob.proc.pid, signal.SIGSTOP)
            try:
                stopped, timings["daemon stopped"] = turn("TURN-STOPPED")
            finally:
                os.kill(bob.proc.pid, signal.SIGCONT)
            assert any("did not answer within" in b for b in stopped)

            down["on"] = True
            try:
                unreachable, timings["bucket down"] = turn("TURN-BUCKET-DOWN")
            finally:
                down["on"] = False
            assert unreachable  # the turn completed; what the hook said depends on caching

            assert sh(f"fusermount3 -u -z {bob.path}").returncode == 0
            gone, timings["unmounted"] = turn("TURN-UNMOUNTED")
            assert any("is not mounted" in b for b in gone)
            print("openclaw turn seconds:", {k: round(v, 1) for k, v in timings.items()})

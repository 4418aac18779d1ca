"""A harness that gives up on a command kills it: Claude Code's Bash tool,
given a 3 s timeout, on a ``cat inbox/next`` that has nothing to read (it
moves the command to the background, then kills it when the session ends).  The
killed read ends at once, takes nothing, and the next message reaches the next
reader; no reader is left blocked in the mount."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.hooks.conftest import TURN_S
from tests.hooks.runs import RUNS, install_hooks, tool_results
from tests.support.fakemodel import FakeModel, Script, ToolCall
from tests.support.harnesses.install import install
from tests.support.harnesses.programs import base_env, run_turn
from tests.support.mounts import sh

pytestmark = [pytest.mark.mount, pytest.mark.harness, pytest.mark.slow]


def _readers(path: Path) -> list[str]:
    """Processes still reading ``path`` (a blocked ``cat``)."""
    out = subprocess.run(["pgrep", "-af", str(path)], capture_output=True, text=True, timeout=10)
    return [line for line in out.stdout.splitlines() if "cat " in line]


def test_claude_codes_bash_timeout_on_a_wait_blocks_nothing_and_loses_no_mail(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount
) -> None:
    alice, beta = mount("alice").path, mount("beta").path
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    run = RUNS["claude-code"]
    waiting = ToolCall(
        (run.shell_tool,), {run.command_arg: f"cat {alice}/inbox/next", "timeout": 3000}
    )
    program = install("claude-code")
    with FakeModel(Script().on("TURN-WAIT", waiting)) as model:
        env = base_env(home)
        env.update(run.env(model, home, project))
        install_hooks("claude-code", alice, project, env)  # the mount's permissions
        start = time.monotonic()
        run_turn(program, env, ["-p", "TURN-WAIT", "--output-format", "json"], project, TURN_S)
        took = time.monotonic() - start
        results = tool_results(model)
    # this version moves the command to the background at its timeout, and ends
    # it with the session: either way the read is killed, not answered
    assert results and "timeout" in results[-1].lower(), results[-1:]
    assert took < 60, f"the turn took {took:.0f}s: the killed read held it"
    assert _readers(alice / "inbox" / "next") == []  # nothing left blocked in the mount

    assert sh(f"echo 'after the timeout' > {beta}/outbox/alice").returncode == 0
    got = sh(f"timeout 10 cat {alice}/inbox/next", timeout=20)
    assert got.returncode == 0 and got.stdout.strip().endswith("after the timeout"), got
    assert sh(f"fusermount3 -u {alice}").returncode == 0  # not busy

"""Real Claude Code, Gemini CLI, OpenCode, Hermes and OpenClaw, with ``tcfs
hooks install``, against the fake model: a file-editing tool call on a path
another agent has reserved is denied (the file is not written, and the tool
result the model gets names the holder); an edit of an unreserved path goes
through."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hooks.conftest import TURN_S
from tests.hooks.runs import RUNS, hooked_env
from tests.support.fakemodel import FakeModel, Script, ToolCall
from tests.support.harnesses.install import install
from tests.support.harnesses.programs import OPENCLAW_FLAGS, PROGRAMS, base_env, run_turn
from tests.support.mounts import sh

pytestmark = [pytest.mark.mount, pytest.mark.harness, pytest.mark.slow]

#: each harness's file-writing tool, its path argument, and how it runs a turn
#: that may write files
WRITERS = {
    "claude-code": (
        ("Write",),
        "file_path",
        lambda p: ["-p", p, "--allowedTools", "Bash", "Write", "--output-format", "json"],
    ),
    "gemini": (("write_file",), "file_path", RUNS["gemini"].argv),
    "opencode": (("write",), "filePath", RUNS["opencode"].argv),  # tcfs's plugin
    "hermes": (("write_file",), "path", RUNS["hermes"].argv),
    "codex": (("exec_command",), "cmd", RUNS["codex"].argv),  # a patch through the shell
}


@dataclass(frozen=True)
class Workspace:
    project: Path  # a git repository
    home: Path
    reserved: Path  # a new file under src/api/, which alice reserves
    free: Path  # a new file under src/web/
    script: Script  # EDIT-RESERVED and EDIT-FREE write them with the harness's tool


def workspace(tmp_path: Path, tools: tuple[str, ...], path_arg: str) -> Workspace:
    project, home = tmp_path / "project", tmp_path / "home"
    (project / "src" / "api").mkdir(parents=True)
    (project / "src" / "web").mkdir(parents=True)
    home.mkdir()
    assert subprocess.run(["git", "init", "-q", str(project)], timeout=30).returncode == 0
    reserved, free = project / "src/api/new.py", project / "src/web/new.py"

    def write(path: Path, line: str) -> dict[str, str]:
        if path_arg == "cmd":  # Codex: apply_patch through its shell tool
            patch = f"*** Begin Patch\n*** Add File: {path}\n+{line}*** End Patch\n"
            return {"cmd": f"apply_patch <<'EOF'\n{patch}EOF\n"}
        return {path_arg: str(path), "content": line}

    script = (
        Script()
        .on("EDIT-RESERVED", ToolCall(tools, write(reserved, "x = 1\n")))
        .on("EDIT-FREE", ToolCall(tools, write(free, "y = 2\n")))
    )
    return Workspace(project, home, reserved, free, script)


@pytest.mark.parametrize("backend", ["local"], indirect=True)
@pytest.mark.parametrize("harness", sorted(WRITERS))
def test_an_edit_of_a_reserved_file_is_denied(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount, tcfs_home: Path, harness: str
) -> None:
    run, (tools, path_arg, argv) = RUNS[harness], WRITERS[harness]
    alice, bob = mount("alice"), mount("bob")
    ws = workspace(tmp_path, tools, path_arg)
    project, home, reserved, free = ws.project, ws.home, ws.reserved, ws.free
    program = install(harness)
    assert sh(f"echo 'src/api/**' > {alice.path}/reservations/api").returncode == 0

    with FakeModel(ws.script) as model:
        env = hooked_env(program, harness, model, home, project, tcfs_home, bob.path)

        def turn(prompt: str) -> list[str]:
            seen = len(model.answered(run.api))
            run_turn(program, env, argv(prompt), project, timeout=TURN_S)
            return [json.dumps(r.body) for r in model.answered(run.api)[seen:]]

        denied = turn("EDIT-RESERVED")
        assert not reserved.exists()
        assert any("agent alice has reserved it" in b for b in denied[1:]), denied[-1:]
        assert any("outbox/alice" in b for b in denied[1:])

        turn("EDIT-FREE")
        assert free.read_text() == "y = 2\n"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_openclaw_denies_an_edit_of_a_reserved_file(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount, tcfs_home: Path
) -> None:
    """OpenClaw, through tcfs's plugin in its gateway (``before_tool_call``)."""
    program = PROGRAMS["openclaw"]
    alice, bob = mount("alice"), mount("bob")
    ws = workspace(tmp_path, ("write",), "path")
    project, home, reserved, free = ws.project, ws.home, ws.reserved, ws.free
    installed = install("openclaw")
    assert sh(f"echo 'src/api/**' > {alice.path}/reservations/api").returncode == 0

    with FakeModel(ws.script) as model:
        env = installed.env({**base_env(home), "TCFS_HOME": str(tcfs_home)})
        env.update(program.configure(model.url, home, project))
        argv = [sys.executable, "-m", "tcfs", "hooks", "install", "openclaw", "--mount"]
        inst = subprocess.run(
            [*argv, str(bob.path)], cwd=project, env=env, capture_output=True, text=True, timeout=60
        )
        assert inst.returncode == 0, inst.stderr

        def turn(prompt: str) -> list[str]:
            seen = len(model.answered("chat"))
            run_turn(installed, env, [*OPENCLAW_FLAGS, prompt], project)
            return [json.dumps(r.body) for r in model.answered("chat")[seen:]]

        with program.running(installed, env, project):
            denied = turn("EDIT-RESERVED")
            assert not reserved.exists()
            assert any("agent alice has reserved it" in b for b in denied[1:]), denied[-1:]
            turn("EDIT-FREE")
            assert free.read_text() == "y = 2\n"

"""A harness's sandbox may make ``.git``, ``.codex``, ``.agents``, ``.aws``
or ``.claude`` at the mount's root to mask them: that works, and none of it
reaches the bucket."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.hooks.runs import RUNS, install_hooks, tool_results
from tests.support.fakemodel import FakeModel, Script, ToolCall
from tests.support.harnesses.install import install
from tests.support.harnesses.programs import run_turn
from tests.support.mounts import sh

GUESTS = (".git", ".codex", ".agents", ".aws", ".claude")

pytestmark = pytest.mark.mount


def _keys(store: object) -> list[str]:
    return [o.key for o in store.list("")]  # type: ignore[attr-defined]


def test_sandbox_names_at_the_root_stay_on_the_mount(mount, backend) -> None:  # type: ignore[no-untyped-def]
    m = mount("alice").path
    before = _keys(backend.store)
    made = sh(f"cd {m} && mkdir {' '.join(GUESTS)} .git/hooks && touch .claude/settings.json")
    assert made.returncode == 0, made.stderr
    listing = sh(f"ls -A {m}").stdout.split()
    assert set(GUESTS) <= set(listing) and "steps" in listing
    assert sh(f"ls -A {m}/.git").stdout.split() == ["hooks"]
    assert sh(f"cat {m}/.claude/settings.json").stdout == ""
    refused = sh(f"echo secret > {m}/.claude/settings.json")
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    # nothing of it in the bucket; the mount still works as before
    assert sh(f"echo alice > {m}/steps/api/claim").returncode == 0
    added = sorted(set(_keys(backend.store)) - set(before))
    assert not [k for k in added if any(g in k for g in GUESTS)], added
    assert sh(f"rmdir {m}/.git").returncode != 0  # not empty
    gone = sh(f"cd {m} && rmdir .git/hooks .git && rm .claude/settings.json && rmdir .claude")
    assert gone.returncode == 0, gone.stderr
    assert ".git" not in sh(f"ls -A {m}").stdout.split()
    # only dot-names are guests: anything else at the root is still refused
    assert sh(f"mkdir {m}/notes").returncode != 0


@pytest.mark.harness
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (bwrap)")
def test_codex_runs_commands_with_the_mount_as_a_writable_root(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount, request: pytest.FixtureRequest
) -> None:
    """``codex exec -s workspace-write --add-dir M``: Codex's bubblewrap masks
    ``.git``, ``.codex``, ``.agents`` under M; every command then runs, and a
    claim through M is a real claim."""
    m = mount("alice").path
    project = tmp_path / "project"
    project.mkdir()
    # Codex's sandbox puts a fresh /tmp in front of the command: its helper,
    # linked under CODEX_HOME, must live elsewhere
    home = Path(tempfile.mkdtemp(prefix="tcfs-codex-home-", dir=Path.home()))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    run = RUNS["codex"]
    command = f"echo plain-ok && echo alice > {m}/steps/api/claim && cat {m}/steps/api/claim"
    script = Script().on("SANDBOXED", ToolCall((run.shell_tool,), {run.command_arg: command}))
    program = install("codex")
    with FakeModel(script) as model:
        env = {"PATH": os.environ["PATH"], "HOME": str(home), **run.env(model, home, project)}
        argv = ["exec", "--skip-git-repo-check", "-s", "workspace-write", "--add-dir", str(m)]
        run_turn(program, env, [*argv, "SANDBOXED"], project, timeout=120)
        outputs = [
            str(item.get("output"))
            for r in model.answered(run.api)
            for item in r.body.get("input", [])
            if isinstance(item, dict) and item.get("type") == "function_call_output"
        ]
    assert outputs, "the model never got the command's result"
    assert "plain-ok" in outputs[-1] and "bwrap" not in outputs[-1], outputs[-1]
    assert "alice" in sh(f"cat {m}/steps/api/claim").stdout


@pytest.mark.harness
@pytest.mark.skipif(
    shutil.which("bwrap") is None or shutil.which("socat") is None,
    reason="Claude Code's sandbox needs bubblewrap and socat",
)
def test_claude_code_in_its_sandbox_with_the_mount_added_runs_commands(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount, request: pytest.FixtureRequest
) -> None:
    """Claude Code's own Bash sandbox (bubblewrap), ``--add-dir M``, after
    ``tcfs hooks install``: a write outside the allowed paths is refused (the
    sandbox is on) and a claim through M works."""
    m = mount("alice").path
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    home = Path(tempfile.mkdtemp(prefix="tcfs-claude-home-", dir=Path.home()))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    outside = home / "outside-probe"
    sandbox = {
        "sandbox": {"enabled": True, "failIfUnavailable": True, "autoAllowBashIfSandboxed": True}
    }
    (project / ".claude" / "settings.local.json").write_text(json.dumps(sandbox))
    run = RUNS["claude-code"]
    command = (
        f"touch {outside}; echo alice > {m}/steps/api/claim; cat {m}/steps/api/claim | tr a-z A-Z"
    )
    script = Script().on("SANDBOXED", ToolCall((run.shell_tool,), {run.command_arg: command}))
    program = install("claude-code")
    with FakeModel(script) as model:
        env = {"PATH": os.environ["PATH"], "HOME": str(home), **run.env(model, home, project)}
        install_hooks("claude-code", m, project, program.env(env))
        argv = ["-p", "SANDBOXED", "--output-format", "json", "--add-dir", str(m)]
        run_turn(program, env, argv, project, timeout=120)
        results = tool_results(model)
    assert results, "the model never got the command's result"
    assert "Read-only file system" in results[-1] and not outside.exists()  # sandboxed
    assert "AGENT: ALICE" in results[-1] and "bwrap" not in results[-1], results[-1]

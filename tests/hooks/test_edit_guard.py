"""The edit hook on real mounts: an edit of a file another agent has reserved
is denied in each harness's format, naming the holder; any other edit goes
ahead; a reservation made on one mount is seen by another mount's hook at
once; with no mount the hook allows, and says so once per session."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tcfs.hooks import guard
from tests.hooks.conftest import run_hook
from tests.support.mounts import sh

pytestmark = pytest.mark.mount


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src" / "api").mkdir(parents=True)
    (root / "src" / "web").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30)
    return root


def edit(repo: Path, rel: str, tool: str = "Edit") -> dict[str, object]:
    return {
        "hook_event_name": "PreToolUse",
        "session_id": "s1",
        "cwd": str(repo / "src"),
        "tool_name": tool,
        "tool_input": {"file_path": str(repo / rel), "old_string": "a", "new_string": "b"},
    }


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_edits_of_reserved_files_are_denied_naming_the_holder(mount, repo: Path) -> None:
    alice, bob = mount("alice"), mount("bob")
    reserved = time.monotonic()
    assert sh(f"echo 'src/api/**' > {alice.path}/reservations/api").returncode == 0
    denied = run_hook("claude-code", "edit", bob.path, edit(repo, "src/api/user.py"))
    assert time.monotonic() - reserved < 1.5  # seen by the other mount's hook at once
    specific = denied.out["hookSpecificOutput"]
    assert isinstance(specific, dict)
    assert specific["permissionDecision"] == "deny"
    reason = str(specific["permissionDecisionReason"])
    assert "agent alice has reserved it" in reason and "'api'" in reason
    assert f"> {bob.path}/outbox/alice" in reason
    assert denied.seconds < 2.0 and denied.returncode == 0

    # an unreserved file, the holder's own edit, a relative path outside the repo: allowed
    assert run_hook("claude-code", "edit", bob.path, edit(repo, "src/web/app.py")).out == {}
    assert run_hook("claude-code", "edit", alice.path, edit(repo, "src/api/user.py")).out == {}
    outside = edit(repo, "src/api/user.py")
    outside["cwd"], outside["tool_input"] = "/", {"file_path": "tmp/x.py"}
    assert run_hook("claude-code", "edit", bob.path, outside).out == {}

    # Gemini CLI: the decision at the top; relative paths from the cwd
    gem = {"cwd": str(repo), "tool_name": "write_file", "tool_input": {"file_path": "src/api/x"}}
    out = run_hook("gemini", "edit", bob.path, gem).out
    assert out["decision"] == "deny" and "agent alice" in str(out["reason"])
    # OpenCode's plugin: a deny field; a patch names its files
    patch = "*** Begin Patch\n*** Update File: src/api/a.py\n@@\n-x\n+y\n*** End Patch\n"
    oc = {"cwd": str(repo), "tool_name": "apply_patch", "tool_input": {"patchText": patch}}
    assert "agent alice" in str(run_hook("opencode", "edit", bob.path, oc).out["deny"])

    assert sh(f"rm {alice.path}/reservations/api").returncode == 0
    assert run_hook("claude-code", "edit", bob.path, edit(repo, "src/api/user.py")).out == {}


def test_without_a_mount_edits_go_ahead_and_the_user_is_told_once(
    tmp_path: Path, repo: Path, tcfs_home: Path
) -> None:
    gone = tmp_path / "not-mounted"
    gone.mkdir()
    first = run_hook("claude-code", "edit", gone, edit(repo, "src/api/user.py"))
    assert "hookSpecificOutput" not in first.out
    assert "not mounted" in str(first.out.get("systemMessage")), first.out
    again = run_hook("claude-code", "edit", gone, edit(repo, "src/api/user.py"))
    assert again.out == {}


def test_the_files_a_tool_call_names(tmp_path: Path) -> None:
    cwd = str(tmp_path)
    assert guard.edited_files({"file_path": "a/b.py"}, cwd) == [tmp_path / "a/b.py"]
    assert guard.edited_files({"notebook_path": "/n.ipynb"}, cwd) == [Path("/n.ipynb")]
    patch = "*** Begin Patch\n*** Add File: x.py\n*** Update File: y.py\n*** Move to: z.py\n"
    assert guard.edited_files({"command": patch}, cwd) == [
        tmp_path / "x.py",
        tmp_path / "y.py",
        tmp_path / "z.py",
    ]
    assert guard.edited_files({"command": "ls -la"}, cwd) == []
    assert guard.edited_files("not a mapping", cwd) == []


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_stopped_daemon_holds_an_edit_less_than_two_seconds(mount, repo: Path) -> None:
    m = mount("bob")
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        run = run_hook("claude-code", "edit", m.path, edit(repo, "src/api/user.py"))
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    assert run.returncode == 0 and run.seconds < 2.0, (run.seconds, run.stderr)
    assert "hookSpecificOutput" not in run.out  # allowed
    assert "did not answer within" in str(run.out.get("systemMessage"))

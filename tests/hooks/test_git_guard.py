"""The git guard on a real repository and real mounts: a commit touching a
path another agent has reserved is refused, naming the holder; any other
commit passes; a pre-commit hook already there (under ``core.hooksPath``
too) still runs, and uninstalling puts it back byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mounts import sh

pytestmark = pytest.mark.mount

FOREIGN_HOOK = '#!/bin/sh\necho "foreign pre-commit ran" >> "$(git rev-parse --git-dir)/ran"\n'


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, timeout=60, env=env
    )


def tcfs_hooks(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", "hooks", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )


def commit(repo: Path, rel: str) -> subprocess.CompletedProcess[str]:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{rel} {os.urandom(4).hex()}\n")
    assert git(repo, "add", rel).returncode == 0
    return git(repo, "commit", "-q", "-m", f"change {rel}")


@pytest.mark.parametrize("backend", ["local"], indirect=True)
@pytest.mark.parametrize("hooks_path", [None, "githooks"])
def test_a_commit_of_reserved_paths_is_refused(
    mount, tmp_path: Path, hooks_path: str | None
) -> None:
    alice, bob = mount("alice"), mount("bob")
    repo = tmp_path / "repo"
    assert git(tmp_path, "init", "-q", str(repo)).returncode == 0
    if hooks_path:
        assert git(repo, "config", "core.hooksPath", hooks_path).returncode == 0
    where = repo / (hooks_path or ".git/hooks")
    where.mkdir(parents=True, exist_ok=True)
    (where / "pre-commit").write_text(FOREIGN_HOOK)
    (where / "pre-commit").chmod(0o750)
    before = (where / "pre-commit").read_bytes()

    out = tcfs_hooks(repo, "install", "git", "--mount", str(bob.path))
    assert out.returncode == 0 and "installed the git guard" in out.stdout, out.stderr
    assert "tcfs git guard" in (where / "pre-commit").read_text()
    assert (
        "already installed" in tcfs_hooks(repo, "install", "git", "--mount", str(bob.path)).stdout
    )

    assert sh(f"echo 'src/api/**' > {alice.path}/reservations/api").returncode == 0
    refused = commit(repo, "src/api/user.py")
    assert refused.returncode != 0
    assert "agent alice has reserved it" in refused.stderr and "'api'" in refused.stderr
    assert git(repo, "rev-parse", "HEAD").returncode != 0  # nothing was committed

    still = commit(repo, "src/web/app.py")  # the refused file is still staged with it
    assert still.returncode != 0 and "src/api/user.py" in still.stderr
    assert git(repo, "reset", "-q", "src/api/user.py").returncode == 0
    passed = git(repo, "commit", "-q", "-m", "web")
    assert passed.returncode == 0, passed.stderr
    ran = (repo / ".git" / "ran").read_text()
    assert ran.count("foreign pre-commit ran") == 1  # chained: ran once the guard passed

    # released: the commit passes
    assert sh(f"rm {alice.path}/reservations/api").returncode == 0
    assert commit(repo, "src/api/user.py").returncode == 0

    out = tcfs_hooks(repo, "uninstall", "git")
    assert out.returncode == 0 and "removed" in out.stdout
    assert (where / "pre-commit").read_bytes() == before
    assert (where / "pre-commit").stat().st_mode & 0o777 == 0o750
    assert not (where / "pre-commit.tcfs-chained").exists()


def test_with_no_hook_before_uninstall_leaves_none(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert git(tmp_path, "init", "-q", str(repo)).returncode == 0
    assert tcfs_hooks(repo, "install", "git", "--mount", str(tmp_path / "m")).returncode == 0
    hook = repo / ".git" / "hooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    # no mount: the commit goes through, and says why it was not checked
    done = commit(repo, "a.txt")
    assert done.returncode == 0 and "not checked" in done.stderr, done.stderr
    assert tcfs_hooks(repo, "uninstall", "git").returncode == 0
    assert not hook.exists()

"""The git guard: a pre-commit hook that refuses a commit touching paths
another agent has reserved (``reservations/`` on the mount), naming the holder.

``tcfs hooks install git --mount M``, run in a repository, writes the
repository's ``pre-commit`` hook where git looks for it (``core.hooksPath``,
else the repository's hooks directory).  A pre-commit hook that was there is
kept, renamed ``pre-commit.tcfs-chained``, and run after the guard with the
same arguments; uninstalling puts it back as it was, byte for byte.  The guard
reads the mount only (``reservations/check``), within ``DEADLINE`` seconds;
a mount that cannot answer lets the commit through and says so.  It sees
every change, however it was made, shell commands included; ``git commit
--no-verify`` skips it, as it skips any pre-commit hook.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tcfs.errors import TcfsError

HOOK = "pre-commit"
CHAINED = "pre-commit.tcfs-chained"
MARK = "# tcfs git guard"
#: seconds the guard waits for the mount
DEADLINE = 5.0


class GitGuardError(TcfsError):
    """The guard cannot be installed or removed here; nothing was changed."""


def _git(cwd: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise GitGuardError(f"git {' '.join(args)}: {str(detail).strip()}") from None
    return out.stdout


def hooks_dir(cwd: Path) -> Path:
    """Where git runs this repository's hooks from: ``core.hooksPath`` (relative
    to the top of the working tree), else the repository's ``hooks``."""
    top = Path(_git(cwd, "rev-parse", "--show-toplevel").strip())
    configured = subprocess.run(
        ["git", "config", "--path", "core.hooksPath"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    if configured:
        return top / os.path.expanduser(configured)
    return (cwd / _git(cwd, "rev-parse", "--git-path", "hooks").strip()).resolve()


def script(mountpoint: str) -> str:
    main = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")
    guard = " ".join(
        shlex.quote(a) for a in (sys.executable, "-I", "-S", main, "git", "--mount", mountpoint)
    )
    return (
        f"#!/bin/sh\n{MARK}: `tcfs hooks install git --mount {mountpoint}` wrote this file;\n"
        "# `tcfs hooks uninstall git` removes it and puts back the hook it chains to.\n"
        f"{guard} || exit 1\n"
        f'chained="$(dirname "$0")/{CHAINED}"\n'
        'if [ -x "$chained" ]; then exec "$chained" "$@"; fi\n'
    )


def _ours(path: Path) -> bool:
    try:
        return MARK in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def install(mountpoint: str, cwd: Path) -> tuple[Path, bool]:
    where = hooks_dir(cwd)
    hook, chained = where / HOOK, where / CHAINED
    body = script(mountpoint)
    if hook.exists() and _ours(hook) and hook.read_text(encoding="utf-8") == body:
        return hook, False
    where.mkdir(parents=True, exist_ok=True)
    if (hook.exists() or hook.is_symlink()) and not _ours(hook):
        if chained.exists() or chained.is_symlink():
            raise GitGuardError(f"{chained} exists already; nothing was changed")
        os.replace(hook, chained)  # kept whole: its bytes, mode and links
    tmp = where / f".{HOOK}.tcfs"
    tmp.write_text(body, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, hook)
    return hook, True


def uninstall(cwd: Path) -> tuple[Path, bool]:
    where = hooks_dir(cwd)
    hook, chained = where / HOOK, where / CHAINED
    if not _ours(hook):
        return hook, False
    if chained.exists() or chained.is_symlink():
        os.replace(chained, hook)
    else:
        hook.unlink()
    return hook, True


def staged_paths(cwd: Path) -> list[str]:
    """Every path the commit being made adds, changes or removes (renames as both)."""
    out = _git(cwd, "diff", "--cached", "--name-only", "--no-renames", "-z")
    return [p for p in out.split("\0") if p]


def main(argv: list[str]) -> int:
    """The pre-commit check: 1 (the commit is refused) when a staged path is
    reserved by another agent, else 0."""
    from tcfs.hooks import bounded, guard, mount

    if len(argv) != 2 or argv[0] != "--mount":
        print("usage: python -m tcfs.hooks git --mount MOUNTPOINT", file=sys.stderr)
        return 2
    where = Path(os.path.abspath(argv[1]))
    try:
        paths = staged_paths(Path.cwd())
        reservations = bounded.within(DEADLINE, lambda: mount.read_reservations(where))
    except bounded.TimedOut:
        print(
            f"tcfs: {where} did not answer in {DEADLINE:g}s; reservations not checked",
            file=sys.stderr,
        )
        return 0
    except (mount.MountError, GitGuardError) as exc:
        print(f"{exc}; reservations not checked", file=sys.stderr)
        return 0
    found = guard.conflicts(reservations, paths)
    if not found:
        return 0
    print(guard.refusal(found, where, "commit"), file=sys.stderr)
    print(
        "tcfs: the commit was refused (git commit --no-verify skips this check).", file=sys.stderr
    )
    return 1

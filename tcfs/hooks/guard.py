"""Before an edit: refuse to change a file another agent has reserved.

A harness's file-editing tool call (Claude Code's ``Edit``/``Write``, Gemini
CLI's ``write_file``/``replace``, OpenCode's ``edit``/``write``...) names the
files it changes.  Each is taken relative to the root of its git repository
and checked against the live reservations of the project, read from the
mount (``reservations/check``): one held by another agent denies the call,
and the agent is told who holds it, which reservation, and how to ask.  A
file outside any git repository, or reserved by this agent, is edited as
before.  The git pre-commit guard (``tcfs.hooks.gitguard``) uses the same
check on the paths a commit touches.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from tcfs import globs
from tcfs.hooks import mount
from tcfs.hooks.harness import Answer

#: the tool-input fields that name the file a tool writes, across harnesses
PATH_FIELDS = ("file_path", "notebook_path", "filePath", "path", "absolute_path")
#: the tool-input fields that hold a patch (Codex's and OpenCode's ``apply_patch``)
PATCH_FIELDS = ("command", "patchText", "patch", "input")
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+)$", re.M)


class Conflict(NamedTuple):
    path: str  # relative to its repository's root
    agent: str
    reservation: str
    glob: str


def edited_files(tool_input: object, cwd: str) -> list[Path]:
    """The files a file-editing tool call changes, as absolute paths."""
    if not isinstance(tool_input, Mapping):
        return []
    named = [v for k in PATH_FIELDS if isinstance(v := tool_input.get(k), str) and v]
    listed = tool_input.get("paths")  # OpenClaw's paths derived from a patch
    if isinstance(listed, list):
        named += [p for p in listed if isinstance(p, str) and p]
    for k in PATCH_FIELDS:
        text = tool_input.get(k)
        if isinstance(text, str) and "*** Begin Patch" in text:
            named += [m.strip() for m in _PATCH_FILE.findall(text)]
    return [Path(os.path.normpath(os.path.join(cwd, p))) for p in named]


def repository_path(path: Path) -> str | None:
    """``path`` relative to the root of the git repository holding it (a
    ``.git`` directory or file above it), or None outside any."""
    for parent in path.parents:
        if (parent / ".git").exists():
            return path.relative_to(parent).as_posix()
    return None


def conflicts(reservations: mount.Reservations, paths: Iterable[str]) -> list[Conflict]:
    """Each repository-relative path another agent's live reservation covers."""
    found = []
    for path in paths:
        for r in reservations.live:
            patterns = r.get("globs")
            if r.get("agent") == reservations.agent or not isinstance(patterns, list):
                continue
            glob = next(
                (g for g in patterns if isinstance(g, str) and globs.matches(g, path)), None
            )
            if glob is not None:
                found.append(Conflict(path, str(r.get("agent")), str(r.get("name")), glob))
                break
    return found


def refusal(found: list[Conflict], where: Path, what: str = "edit") -> str:
    """What the agent is told: who holds which of the files, and how to ask."""
    lines = [
        f"tcfs: do not {what} {c.path}: agent {c.agent} has reserved it "
        f"(reservation {c.reservation!r}, glob {c.glob!r})."
        for c in found
    ]
    holders = sorted({c.agent for c in found})
    ask = " or ".join(
        f'echo "please release {next(c.reservation for c in found if c.agent == h)}: '
        f'I need to change it" > {where}/outbox/{h}'
        for h in holders
    )
    lines.append(
        f"Ask the holder to release it ({ask}), then wait for the answer "
        f"(cat {where}/inbox/next), or work on something else; "
        f"ls {where}/reservations shows what is reserved."
    )
    return "\n".join(lines)


def answer(where: Path, payload: Mapping[str, object]) -> Answer:
    """The answer to one edit: a refusal, or nothing (the edit goes ahead)."""
    cwd = payload.get("cwd")
    files = edited_files(payload.get("tool_input"), cwd if isinstance(cwd, str) else os.getcwd())
    paths = [p for f in files if (p := repository_path(f)) is not None]
    if not paths:
        return Answer()
    try:
        reservations = mount.read_reservations(where)
    except mount.MountError as exc:
        first = _first_unguarded(where, payload.get("session_id"))
        return (
            Answer(notice=f"{exc}; edits are not checked against file reservations")
            if first
            else Answer()
        )
    found = conflicts(reservations, paths)
    return Answer(deny=refusal(found, where)) if found else Answer()


def _first_unguarded(where: Path, session: object) -> bool:
    """True the first time a session's edit finds the mount unreadable, so the
    user is told once, not at every edit."""
    from tcfs.config import tcfs_home, write_private

    key = hashlib.sha256(f"{where}\0{session}".encode()).hexdigest()[:16]
    marker = tcfs_home() / "hooks" / f"unguarded-{key}"
    if marker.exists():
        return False
    try:
        marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(marker, b"")
    except OSError:
        pass
    return True

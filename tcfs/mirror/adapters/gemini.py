"""Gemini CLI (0.39 and later): append-only JSONL chats.

Home is ``$GEMINI_CLI_HOME/.gemini`` or ``~/.gemini``; chats live in
``tmp/<project>/chats/session-<time>-<id8>.jsonl`` and subagent chats in
``chats/<parent session id>/<session id>.jsonl``.  The project's real path is
in ``tmp/<project>/.project_root`` (older layouts name the folder
``sha256(project root)``).  Records are mirrored exactly as written,
``$set`` and ``$rewindTo`` included: replaying them is the reader's job, and
the file itself only ever grows.  The legacy whole-file ``session-*.json``
format is not mirrored.

Checked against google-gemini/gemini-cli
``packages/core/src/services/chatRecordingService.ts`` (``initialize``: the
file name ``session-<time>-<id8>.jsonl``, a subagent's
``chats/<parent id>/<id>.jsonl``, a resume reopening the session's file) and
``packages/core/src/config/storage.ts`` (``getProjectTempDir``), and the chats
Gemini CLI 0.61.0 wrote in the conformance suite.  A resume can still start a
second file with the same session id; it is a stream of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tcfs.mirror.adapters import register
from tcfs.mirror.adapters.base import (
    FileTailAdapter,
    SessionRef,
    first_line,
    mtime,
    safe_id,
    same_dir,
)


def gemini_home() -> Path:
    env = os.environ.get("GEMINI_CLI_HOME")
    return (Path(env).expanduser() if env else Path.home()) / ".gemini"


def _project_root(project_dir: Path) -> str | None:
    try:
        text = (project_dir / ".project_root").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def _matches(project_dir: Path, root: str | None, cwd: Path) -> bool:
    if root is not None:
        return same_dir(root, cwd)
    forms = {os.path.abspath(cwd), os.path.realpath(cwd)}
    return project_dir.name in {hashlib.sha256(f.encode()).hexdigest() for f in forms}


def _session_id(path: Path) -> str:
    try:
        rec = json.loads(first_line(path))
    except ValueError:
        rec = None
    sid = rec.get("sessionId") if isinstance(rec, dict) else None
    return sid if isinstance(sid, str) and sid else path.stem


@register
class Gemini(FileTailAdapter):
    name = "gemini"

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}  # path -> session id from the first record

    def _sid(self, path: Path) -> str:
        key = str(path)
        if key not in self._ids:
            sid = _session_id(path)
            if sid == path.stem:
                return sid  # first record not written yet: ask again next time
            self._ids[key] = sid
        return self._ids[key]

    def discover(self, cwd: Path | None) -> list[SessionRef]:
        refs: list[SessionRef] = []
        for project_dir in sorted((gemini_home() / "tmp").glob("*")):
            if not (project_dir / "chats").is_dir():
                continue
            root = _project_root(project_dir)
            if cwd is not None and not _matches(project_dir, root, cwd):
                continue
            where = root if root is not None else (str(cwd) if cwd is not None else None)
            chats = project_dir / "chats"
            taken: set[str] = set()
            # File names start with the start time, so the original file of a
            # session sorts first; a later file with the same session id (a
            # resume can start one) is a stream of its own, never merged.
            for path in sorted(chats.glob("session-*.jsonl")):
                sid = safe_id(self._sid(path))
                if sid in taken:
                    sid = safe_id(f"{sid}__{path.stem}")
                taken.add(sid)
                refs.append(self._ref(path, sid, where, None))
            for path in sorted(chats.glob("*/*.jsonl")):
                parent = safe_id(path.parent.name)
                sid = safe_id(f"{parent}__{self._sid(path)}")
                refs.append(self._ref(path, sid, where, parent))
        return refs

    def _ref(self, path: Path, sid: str, cwd: str | None, parent: str | None) -> SessionRef:
        return SessionRef(
            harness=self.name,
            session_id=sid,
            source=str(path),
            cwd=cwd,
            updated_at=mtime(path),
            parent_id=parent,
        )

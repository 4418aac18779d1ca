"""The adapter interface: discover a harness's sessions, read what is new.

An adapter is stateless; everything it needs to resume lives in the cursor the
engine hands back.  Two shared bases cover the two storage models:
``FileTailAdapter`` (append-mostly JSONL files) and ``SqliteAdapter``
(rows in a live WAL database, read with a high-water mark).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tcfs.mirror import tail
from tcfs.mirror.cursor import Cursor


@dataclass(frozen=True)
class SessionRef:
    """One mirrorable stream of one harness."""

    harness: str
    session_id: str  # the stream's name in the bucket: one key segment
    source: str  # the file or database it is read from (meta.json's source_path)
    cwd: str | None = None  # the project directory the session ran in, when known
    updated_at: float = 0.0  # last activity, epoch seconds: picks the active session
    parent_id: str | None = None  # a subagent stream names its parent session
    key: str = ""  # adapter-private locator (a database session id, ...)


def same_dir(a: str | os.PathLike[str] | None, b: str | os.PathLike[str] | None) -> bool:
    if a is None or b is None:
        return False
    return os.path.realpath(os.fspath(a)) == os.path.realpath(os.fspath(b))


def safe_id(raw: str) -> str:
    """A session id usable as one bucket key segment."""
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_.-") else "-" for ch in raw)
    out = out.lstrip("._-") or "session"
    return out[:200]


class Adapter(ABC):
    """One harness.  Subclasses set ``name`` and are registered in ``tcfs.mirror.adapters``."""

    name: ClassVar[str] = ""
    #: True when every session records the directory it ran in, so ``auto`` and
    #: the default selection can rely on the cwd filter.
    scoped_by_cwd: ClassVar[bool] = True

    @abstractmethod
    def discover(self, cwd: Path | None) -> list[SessionRef]:
        """Sessions that ran in ``cwd`` (all sessions when None).  Cheap: no
        transcript contents beyond a first line."""

    @abstractmethod
    def read_new(self, session: SessionRef, cursor: Cursor | None) -> tuple[bytes, Cursor]:
        """Whole JSONL records after ``cursor`` and the cursor just past them."""

    def probe(self, session: SessionRef) -> Hashable:
        """A cheap token (about one ``stat``) that changes when the source may
        have new data; the engine skips ``read_new`` while it stays equal."""
        try:
            st = os.stat(session.source)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FileTailAdapter(Adapter):
    """Sessions that are JSONL files appended line by line."""

    def locate(self, session: SessionRef) -> str | None:
        """The file holding the session now (it may have moved); None if gone."""
        return session.source if os.path.exists(session.source) else None

    def opener(self, path: str) -> tail.Opener | None:
        """A decompressing opener for archived files; None for plain ones."""
        return None

    def read_new(self, session: SessionRef, cursor: Cursor | None) -> tuple[bytes, Cursor]:
        path = self.locate(session)
        if path is None:
            return b"", dict(cursor or {})
        try:
            return tail.read_lines(path, cursor, opener=self.opener(path))
        except FileNotFoundError:
            return b"", dict(cursor or {})  # rotated away between locate and open

    def probe(self, session: SessionRef) -> Hashable:
        path: str | None = session.source
        try:  # one stat while the file stays where it is
            st = os.stat(session.source)
        except OSError:
            path = self.locate(session)
            if path is None:
                return None
            try:
                st = os.stat(path)
            except OSError:
                return None
        return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def mtime(path: str | os.PathLike[str]) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def first_line(path: str | os.PathLike[str], limit: int = 1 << 20) -> bytes:
    """The first line of a file (without newline), at most ``limit`` bytes."""
    try:
        with open(path, "rb") as f:
            return f.readline(limit).rstrip(b"\r\n")
    except OSError:
        return b""

"""Hermes Agent: one SQLite database, ``$HERMES_HOME/state.db`` (or ``~/.hermes``).

Messages are rows of ``messages(id INTEGER PRIMARY KEY AUTOINCREMENT,
session_id, role, content, ...)``; ``id`` never goes back, so the cursor is
the highest id mirrored.  Each row becomes one JSON line of every column the
table has (read with ``PRAGMA table_info``, since columns are added over
time), with ``content`` decoded when Hermes stored it as ``\\x00json:<json>``.
Rows Hermes later rewrites in place or deletes (compression, rewind) stay in
the bucket as first written: the mirror is an append-only superset.

A ``delegate_task`` child (Hermes 0.19) is a ``sessions`` row with
``parent_session_id`` set, ``source='subagent'`` and ``cwd`` NULL: it is its
own stream, names its parent, and runs where its parent ran (the nearest
ancestor with a cwd), so discovery by cwd finds it with its parent.

Checked against NousResearch/hermes-agent ``hermes_state.py`` (``state.db``
under ``get_hermes_home()``, ``parent_session_id`` chains) and
``tools/delegate_tool.py``, and the database Hermes 0.19.0 wrote in the
conformance suite.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from tcfs.mirror import sqlite as db
from tcfs.mirror.adapters import register
from tcfs.mirror.adapters.base import Adapter, SessionRef, safe_id, same_dir
from tcfs.mirror.cursor import Cursor, rows_cursor

BATCH = 2000
_CONTENT_JSON = "\x00json:"


def db_path() -> Path:
    env = os.environ.get("HERMES_HOME")
    return (Path(env).expanduser() if env else Path.home() / ".hermes") / "state.db"


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_CONTENT_JSON):
        try:
            return json.loads(value[len(_CONTENT_JSON) :])
        except ValueError:
            return value
    return value


def row_line(row: dict[str, Any]) -> bytes:
    """One message row as a JSON line (the same shape tracecraft writes)."""
    if "content" in row:
        row["content"] = _decode(row["content"])
    text = json.dumps(row, default=str, ensure_ascii=False)
    return text.encode("utf-8", "surrogateescape") + b"\n"


def _cwd(row: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str | None:
    """The session's cwd, or its nearest ancestor's (a subagent records none)."""
    seen: set[str] = set()
    current: dict[str, Any] | None = row
    while current is not None and current["id"] not in seen:
        seen.add(current["id"])
        if isinstance(current.get("cwd"), str) and current["cwd"]:
            return str(current["cwd"])
        parent = current.get("parent_session_id")
        current = by_id.get(parent) if isinstance(parent, str) else None
    return None


@register
class Hermes(Adapter):
    name = "hermes"
    scoped_by_cwd = False  # older schemas have no cwd column

    def discover(self, cwd: Path | None) -> list[SessionRef]:
        path = db_path()
        if not path.exists():
            return []

        rows = db.select_present(
            path,
            "sessions",
            ("id", "cwd", "parent_session_id", "started_at", "ended_at", "last_activity_at"),
        )
        rows = [r for r in rows if isinstance(r["id"], str) and r["id"]]
        by_id = {r["id"]: r for r in rows}
        refs = []
        for r in rows:
            parent = r.get("parent_session_id")
            parent = parent if isinstance(parent, str) and parent in by_id else None
            where = _cwd(r, by_id)
            if cwd is not None and not same_dir(where, cwd):
                continue
            times = [r.get(k) for k in ("last_activity_at", "ended_at", "started_at")]
            refs.append(
                SessionRef(
                    harness=self.name,
                    session_id=safe_id(r["id"]),
                    source=str(path),
                    cwd=where,
                    updated_at=max(
                        (float(t) for t in times if isinstance(t, (int, float))), default=0.0
                    ),
                    parent_id=safe_id(parent) if parent else None,
                    key=r["id"],
                )
            )
        return refs

    def probe(self, session: SessionRef) -> Hashable:
        return db.probe(session.source)

    def read_new(self, session: SessionRef, cursor: Cursor | None) -> tuple[bytes, Cursor]:
        last = (cursor or {}).get("last", 0)
        last = last if isinstance(last, int) else 0
        if not os.path.exists(session.source):
            return b"", rows_cursor(last=last)

        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cols = db.columns(conn, "messages")
            if "id" not in cols or "session_id" not in cols:
                return []
            rows = conn.execute(
                f"SELECT {db.quoted(cols)} FROM messages"
                " WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?",
                (session.key or session.session_id, last, BATCH),
            ).fetchall()
            return [dict(r) for r in rows]

        rows = db.read(session.source, query)
        if not rows:
            return b"", rows_cursor(last=last)
        data = b"".join(row_line(r) for r in rows)
        return data, rows_cursor(last=int(rows[-1]["id"]))

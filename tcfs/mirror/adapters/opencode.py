"""OpenCode (1.2 and later): ``$XDG_DATA_HOME/opencode/opencode.db`` (SQLite, WAL).

Tables ``session``, ``message`` and ``part``; messages and parts are updated
in place while a reply streams (a tool part goes pending, running,
completed).  Choice: **re-emit on change**.  Every version of a row is one
JSON line ``{"type": "message"|"part", <columns>, "data": <decoded JSON>}``,
emitted when its ``(time_updated, id)`` passes the cursor, so the transcript
records each change in order and a reader keeps the last version per ``id``.
The cursor is a keyset high-water mark per table plus the rows seen in the
last :data:`LAG_MS` milliseconds, re-checked each read so a write that commits
slightly out of timestamp order is still caught.  A ``task`` subagent is a
``session`` row whose ``parent_id`` names its parent.

Checked against sst/opencode ``packages/opencode/src/session/session.sql.ts``
(the ``session``/``message``/``part`` tables) and the database OpenCode
1.18.33 wrote in the conformance suite.
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

TABLES = ("message", "part")
BATCH = 2000
LAG_MS = 2000


def db_path() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "opencode" / "opencode.db"


def row_line(table: str, row: dict[str, Any]) -> bytes:
    doc: dict[str, Any] = {"type": table, **row}
    if isinstance(doc.get("data"), str):
        try:
            doc["data"] = json.loads(doc["data"])
        except ValueError:
            pass
    return (
        json.dumps(doc, default=str, ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n"
    )


@register
class OpenCode(Adapter):
    name = "opencode"

    def discover(self, cwd: Path | None) -> list[SessionRef]:
        path = db_path()
        if not path.exists():
            return []

        rows = db.select_present(path, "session", ("id", "directory", "parent_id", "time_updated"))
        refs = []
        for r in rows:
            if not isinstance(r["id"], str):
                continue
            where = r.get("directory") if isinstance(r.get("directory"), str) else None
            if cwd is not None and not same_dir(where, cwd):
                continue
            tu = r.get("time_updated")
            parent = r.get("parent_id")
            refs.append(
                SessionRef(
                    harness=self.name,
                    session_id=safe_id(r["id"]),
                    source=str(path),
                    cwd=where,
                    updated_at=tu / 1000.0 if isinstance(tu, (int, float)) else 0.0,
                    parent_id=safe_id(parent) if isinstance(parent, str) and parent else None,
                    key=r["id"],
                )
            )
        return refs

    def probe(self, session: SessionRef) -> Hashable:
        return db.probe(session.source)

    def read_new(self, session: SessionRef, cursor: Cursor | None) -> tuple[bytes, Cursor]:
        c = cursor or {}
        hw: dict[str, list[Any]] = {t: list((c.get("hw") or {}).get(t) or [-1, ""]) for t in TABLES}
        recent: dict[str, int] = dict(c.get("recent") or {})
        if not os.path.exists(session.source):
            return b"", dict(c)
        sid = session.key or session.session_id

        def query(conn: sqlite3.Connection) -> list[tuple[Any, str, str, dict[str, Any]]]:
            out = []
            for table in TABLES:
                cols = db.columns(conn, table)
                if not {"id", "session_id", "time_updated"} <= set(cols):
                    continue
                tu, last_id = hw[table]
                sel = f'SELECT {db.quoted(cols)} FROM "{table}" WHERE session_id = ?'
                fresh = conn.execute(
                    sel + " AND (time_updated > ? OR (time_updated = ? AND id > ?))"
                    " ORDER BY time_updated, id LIMIT ?",
                    (sid, tu, tu, last_id, BATCH),
                ).fetchall()
                late = conn.execute(
                    sel + " AND time_updated >= ? AND (time_updated < ? OR"
                    " (time_updated = ? AND id <= ?))",
                    (sid, tu - LAG_MS, tu, tu, last_id),
                ).fetchall()
                for r in late:
                    if recent.get(f"{table}:{r['id']}") != r["time_updated"]:
                        out.append((r["time_updated"], table, r["id"], dict(r)))
                for r in fresh:
                    out.append((r["time_updated"], table, r["id"], dict(r)))
                if fresh:
                    hw[table] = [fresh[-1]["time_updated"], fresh[-1]["id"]]
            return out

        rows = db.read(session.source, query)
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        for tu, table, rid, _row in rows:
            recent[f"{table}:{rid}"] = tu
        recent = {
            k: v
            for k, v in recent.items()
            if k.split(":", 1)[0] in hw
            and isinstance(v, (int, float))
            and v >= hw[k.split(":", 1)[0]][0] - LAG_MS
        }
        top = max(h[0] for h in hw.values())
        new = rows_cursor(
            last=int(top) if isinstance(top, (int, float)) else 0, hw=hw, recent=recent
        )
        return b"".join(row_line(t, r) for _tu, t, _id, r in rows), new

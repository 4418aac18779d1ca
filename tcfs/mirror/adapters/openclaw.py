"""OpenClaw: per-agent JSONL transcripts, and the newer per-agent SQLite store.

State directory: ``$OPENCLAW_STATE_DIR``, ``$MOLTBOT_STATE_DIR``,
``$CLAWDBOT_STATE_DIR``, then ``~/.openclaw`` (or a legacy ``~/.clawdbot`` /
``~/.moltbot`` when that is all there is).

* JSONL: ``<state>/agents/<agent>/sessions/<session>.jsonl``, tailed by line.
* SQLite (2026.9.2 on): ``<state>/agents/<agent>/agent/openclaw-agent.sqlite``,
  table ``transcript_events(session_id, seq, event_json, event_zstd,
  event_utf8_bytes, ...)``; each row holds exactly the line the JSONL file used
  to hold, either as ``event_json`` or, for a large event that compresses
  well (2026.9.x), zstd-compressed in ``event_zstd`` with ``event_json`` NULL
  and ``event_utf8_bytes`` its decoded size (the table's CHECK constraint
  says one or the other).  ``seq`` is the cursor.  2026.9.x writes no JSONL.

Sessions run in the gateway's workspace (``~/.openclaw/workspace`` by
default, or ``agents.defaults.workspace``), not in a project: a session whose
recorded cwd is that workspace belongs to whichever project mirrors it.  A
spawned child (``session_windows.parent_session_key``, or ``spawned_by``)
names its parent session's stream.

Streams are named ``<agent>__<session>`` (session ids are unique per agent
only).  When a session is in the database it is read from there; if it was
mirrored from its JSONL file before the migration, the database's events are
replayed against what was mirrored, so nothing is uploaded twice.

Checked against the database OpenClaw 2026.9.6 writes in the conformance
suite (the schema of openclaw/openclaw ``src/state/``: ``transcript_events``
and its CHECK constraint, ``session_windows``) and its packaged docs
(``docs/gateway/local-models.md`` for the provider settings the suite uses).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Hashable
from pathlib import Path

from tcfs.mirror import sqlite as db
from tcfs.mirror.adapters import register
from tcfs.mirror.adapters.base import (
    FileTailAdapter,
    SessionRef,
    first_line,
    mtime,
    safe_id,
    same_dir,
)
from tcfs.mirror.cursor import REPLAY, Cursor, rows_cursor

DB_NAME = "openclaw-agent.sqlite"
BATCH = 2000
LOWEST = -(1 << 63)


def state_dir() -> Path:
    for var in ("OPENCLAW_STATE_DIR", "MOLTBOT_STATE_DIR", "CLAWDBOT_STATE_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    home = Path.home()
    primary = home / ".openclaw"
    if not primary.exists():
        for legacy in (home / ".clawdbot", home / ".moltbot"):
            if legacy.exists():
                return legacy
    return primary


def workspaces() -> list[Path]:
    """Where OpenClaw runs sessions that belong to no project."""
    state = state_dir()
    found = [state / "workspace"]
    try:
        config = json.loads((state / "openclaw.json").read_text())
        configured = config["agents"]["defaults"]["workspace"]
        if isinstance(configured, str) and configured:
            found.append(Path(configured).expanduser())
    except (OSError, ValueError, KeyError, TypeError):
        pass  # JSON5 or no such setting: the default only
    return found


def _in_workspace(cwd: str | None) -> bool:
    return cwd is None or any(same_dir(cwd, w) for w in workspaces())


def _cwd_of(line: bytes | str | None) -> str | None:
    try:
        rec = json.loads(line or b"")
    except (ValueError, TypeError):
        return None
    cwd = rec.get("cwd") if isinstance(rec, dict) else None
    return cwd if isinstance(cwd, str) else None


def _seconds(value: object) -> float:
    if not isinstance(value, (int, float)):
        return 0.0
    return value / 1000.0 if value > 1e11 else float(value)  # milliseconds or seconds


def _event_text(row: sqlite3.Row) -> str:
    """The event a row holds: ``event_json``, or ``event_zstd`` decoded.

    A row with neither, or whose decoded size is not ``event_utf8_bytes``, is
    an error (the engine retries it and uploads nothing), never a ``null``."""
    keys = row.keys()
    text = row["event_json"]
    if isinstance(text, str):
        return text
    blob = row["event_zstd"] if "event_zstd" in keys else None
    if not isinstance(blob, bytes):
        raise ValueError(f"transcript event {row['seq']} has neither event_json nor event_zstd")
    size = row["event_utf8_bytes"] if "event_utf8_bytes" in keys else None
    limit = size if isinstance(size, int) and size > 0 else 64 << 20
    import zstandard

    try:
        raw = zstandard.ZstdDecompressor().decompress(blob, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise ValueError(f"transcript event {row['seq']}: bad event_zstd: {exc}") from exc
    if isinstance(size, int) and len(raw) != size:
        raise ValueError(
            f"transcript event {row['seq']}: event_zstd decodes to {len(raw)} bytes,"
            f" event_utf8_bytes says {size}"
        )
    return raw.decode("utf-8", "surrogateescape")


def _one_line(event: object) -> bytes:
    text = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
    if "\n" in text or "\r" in text:  # keep one record per line
        try:
            text = json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            text = text.replace("\r", " ").replace("\n", " ")
    return text.encode("utf-8", "surrogateescape") + b"\n"


def _parents(path: Path) -> dict[str, str]:
    """child session id -> parent session id, from the session windows' keys."""
    rows = db.select_present(
        path,
        "session_windows",
        ("session_id", "session_key", "parent_session_key", "spawned_by"),
        required="session_id",
    )
    by_key = {r.get("session_key"): r["session_id"] for r in rows}
    out: dict[str, str] = {}
    for r in rows:
        for ref in (r.get("parent_session_key"), r.get("spawned_by")):
            parent = by_key.get(ref) if isinstance(ref, str) else None
            if isinstance(parent, str) and parent != r["session_id"]:
                out[r["session_id"]] = parent
                break
    return out


@register
class OpenClaw(FileTailAdapter):
    name = "openclaw"
    scoped_by_cwd = False  # sessions run in the gateway's workspace, not a project

    def _db_sessions(self, path: Path, agent: str) -> list[SessionRef]:
        def query(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            if not db.columns(conn, "transcript_events"):
                return []
            return conn.execute(
                "SELECT t.session_id AS sid, MAX(t.created_at) AS last,"
                " (SELECT f.event_json FROM transcript_events f WHERE f.session_id = t.session_id"
                "  ORDER BY f.seq LIMIT 1) AS first"
                " FROM transcript_events t GROUP BY t.session_id"
            ).fetchall()

        rows = db.read(path, query)
        parents = _parents(path)
        refs = []
        for row in rows:
            if not isinstance(row["sid"], str):
                continue
            parent = parents.get(row["sid"])
            refs.append(
                SessionRef(
                    harness=self.name,
                    session_id=safe_id(f"{agent}__{row['sid']}"),
                    source=str(path),
                    cwd=_cwd_of(row["first"]),
                    updated_at=_seconds(row["last"]) or mtime(path),
                    parent_id=safe_id(f"{agent}__{parent}") if parent else None,
                    key=row["sid"],
                )
            )
        return refs

    def discover(self, cwd: Path | None) -> list[SessionRef]:
        agents = state_dir() / "agents"
        found: dict[str, SessionRef] = {}
        for path in sorted(agents.glob("*/sessions/*.jsonl")):
            agent = path.parent.parent.name
            ref = SessionRef(
                harness=self.name,
                session_id=safe_id(f"{agent}__{path.stem}"),
                source=str(path),
                cwd=_cwd_of(first_line(path)),
                updated_at=mtime(path),
                key=path.stem,
            )
            found[ref.session_id] = ref
        for path in sorted(agents.glob(f"*/agent/{DB_NAME}")):
            try:
                for ref in self._db_sessions(path, path.parent.parent.name):
                    found[ref.session_id] = ref  # the database is the authority
            except sqlite3.Error:
                continue
        refs = list(found.values())
        if cwd is not None:
            placed = {r.session_id: r.cwd for r in refs}
            refs = [
                r
                for r in refs
                if same_dir(r.cwd, cwd)
                or _in_workspace(r.cwd)
                or (r.parent_id is not None and same_dir(placed.get(r.parent_id), cwd))
            ]
        return refs

    def probe(self, session: SessionRef) -> Hashable:
        if session.source.endswith(DB_NAME):
            return db.probe(session.source)
        return super().probe(session)

    def read_new(self, session: SessionRef, cursor: Cursor | None) -> tuple[bytes, Cursor]:
        if not session.source.endswith(DB_NAME):
            return super().read_new(session, cursor)
        if not os.path.exists(session.source):
            return b"", dict(cursor or {})
        c = dict(cursor or {})
        if c.get("kind") != "rows":
            c = rows_cursor(seq=LOWEST, replay_until=None)
            if cursor and cursor.get("kind") == "file" and cursor.get("offset"):
                c["replay_until"] = "pending"  # migrated from JSONL: replay it all once

        def query(conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], int | None]:
            top = None
            if c.get("replay_until") == "pending":
                top = conn.execute(
                    "SELECT MAX(seq) FROM transcript_events WHERE session_id = ?", (session.key,)
                ).fetchone()[0]
            present = set(db.columns(conn, "transcript_events"))
            wanted = ("seq", "event_json", "event_zstd", "event_utf8_bytes")
            cols = [x for x in wanted if x in present]
            rows = conn.execute(
                f"SELECT {db.quoted(cols)} FROM transcript_events"
                " WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (session.key, c["seq"], BATCH),
            ).fetchall()
            return rows, top

        rows, top = db.read(session.source, query)
        if c.get("replay_until") == "pending":
            c["replay_until"] = top
        if not rows:
            c["replay_until"] = None
            return b"", c
        replay_until = c.get("replay_until")
        replaying = isinstance(replay_until, int) and rows[0]["seq"] <= replay_until
        if replaying:
            rows = [r for r in rows if r["seq"] <= replay_until]
        data = b"".join(_one_line(_event_text(r)) for r in rows)
        new = rows_cursor(seq=rows[-1]["seq"], replay_until=replay_until if replaying else None)
        if replaying:
            new[REPLAY] = True
            if rows[-1]["seq"] >= replay_until:
                new["replay_until"] = None
        return data, new

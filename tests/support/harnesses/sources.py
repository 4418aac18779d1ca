"""What each harness stored, read straight from its files (not through the
mirror's adapters), and the check that a bucket holds exactly that.

JSONL sessions must come through byte for byte; SQLite sessions row for row
(each mirrored line, parsed, equals the row as the database holds it now, or
for OpenCode's rows updated in place, the last mirrored version of each row
equals the current row).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from tcfs.protocol.sessions import META_LEAF, SessionReader
from tcfs.store.base import Store


@dataclass
class Source:
    """One session as the harness stored it."""

    stream: str  # the stream it must be mirrored as
    parent: str | None  # the parent's stream, for a child session
    raw: bytes | None = None  # JSONL: the file's whole lines
    rows: list[dict[str, Any]] = field(default_factory=list)  # SQLite: one per line, in order
    by_id: bool = False  # rows updated in place: compare the last version per (type, id)

    @property
    def size(self) -> int:
        return len(self.raw.splitlines()) if self.raw is not None else len(self.rows)


def _whole_lines(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1]


def _first(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        doc = json.loads(f.readline())
    return doc if isinstance(doc, dict) else {}


def _ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def _plain(row: sqlite3.Row) -> dict[str, Any]:
    return json.loads(json.dumps(dict(row), default=str))  # type: ignore[no-any-return]


def claude_code(home: Path) -> list[Source]:
    out = []
    for path in sorted((home / ".claude" / "projects").glob("*/*.jsonl")):
        out.append(Source(path.stem, None, _whole_lines(path)))
    for path in sorted((home / ".claude" / "projects").glob("*/*/subagents/agent-*.jsonl")):
        parent = path.parent.parent.name
        out.append(Source(f"{parent}__{path.stem}", parent, _whole_lines(path)))
    return out


def codex(home: Path) -> list[Source]:
    out = []
    for path in sorted((home / ".codex" / "sessions").glob("*/*/*/rollout-*.jsonl")):
        meta = _first(path).get("payload") or {}
        out.append(Source(meta["id"], meta.get("parent_thread_id"), _whole_lines(path)))
    return out


def gemini(home: Path) -> list[Source]:
    out = []
    for chats in sorted((home / ".gemini" / "tmp").glob("*/chats")):
        taken: set[str] = set()
        for path in sorted(chats.glob("session-*.jsonl")):
            sid = _first(path)["sessionId"]
            # a resume can start a second file with the session's id: the
            # adapter mirrors it as a stream of its own, named after the file
            stream = f"{sid}__{path.stem}" if sid in taken else sid
            taken.add(sid)
            out.append(Source(stream, None, _whole_lines(path)))
        for path in sorted(chats.glob("*/*.jsonl")):
            parent = path.parent.name
            sid = _first(path)["sessionId"]
            out.append(Source(f"{parent}__{sid}", parent, _whole_lines(path)))
    return out


def opencode(home: Path) -> list[Source]:
    db = home / ".local" / "share" / "opencode" / "opencode.db"
    with _ro(db) as conn:
        sessions = conn.execute("SELECT id, parent_id FROM session").fetchall()
        out = []
        for s in sessions:
            rows = []
            for table in ("message", "part"):
                for r in conn.execute(f"SELECT * FROM {table} WHERE session_id = ?", (s["id"],)):
                    doc = {"type": table, **_plain(r)}
                    doc["data"] = json.loads(doc["data"])
                    rows.append(doc)
            out.append(Source(s["id"], s["parent_id"], rows=rows, by_id=True))
    return out


def _event(row: sqlite3.Row) -> dict[str, Any]:
    if row["event_json"] is not None:
        return json.loads(row["event_json"])  # type: ignore[no-any-return]
    raw = zstandard.ZstdDecompressor().decompress(
        row["event_zstd"], max_output_size=row["event_utf8_bytes"]
    )
    return json.loads(raw)  # type: ignore[no-any-return]


def openclaw(home: Path) -> list[Source]:
    out = []
    for db in sorted((home / ".openclaw" / "agents").glob("*/agent/openclaw-agent.sqlite")):
        agent = db.parent.parent.name
        with _ro(db) as conn:
            windows = {
                r["session_key"]: r["session_id"]
                for r in conn.execute("SELECT session_id, session_key FROM session_windows")
            }
            parents = {
                r["session_id"]: windows.get(r["parent_session_key"])
                for r in conn.execute("SELECT session_id, parent_session_key FROM session_windows")
            }
            ids = [r[0] for r in conn.execute("SELECT DISTINCT session_id FROM transcript_events")]
            for sid in ids:
                rows = [
                    _event(r)
                    for r in conn.execute(
                        "SELECT * FROM transcript_events WHERE session_id = ? ORDER BY seq", (sid,)
                    )
                ]
                parent = parents.get(sid)
                out.append(
                    Source(f"{agent}__{sid}", f"{agent}__{parent}" if parent else None, rows=rows)
                )
    return out


def hermes(home: Path) -> list[Source]:
    with _ro(home / ".hermes" / "state.db") as conn:
        out = []
        for s in conn.execute("SELECT id, parent_session_id FROM sessions").fetchall():
            rows = [
                _plain(r)
                for r in conn.execute(
                    "SELECT * FROM messages WHERE session_id = ? ORDER BY id", (s["id"],)
                )
            ]
            out.append(Source(s["id"], s["parent_session_id"], rows=rows))
    return out


READERS: dict[str, Callable[[Path], list[Source]]] = {
    "claude-code": claude_code,
    "codex": codex,
    "gemini": gemini,
    "opencode": opencode,
    "openclaw": openclaw,
    "hermes": hermes,
}


def mismatches(store: Store, harness: str, sources: list[Source]) -> list[str]:
    """Every way the bucket differs from the sources (empty: faithful)."""
    reader = SessionReader(store)
    problems = []
    streams = set(reader.sessions(harness))
    for src in sources:
        if src.stream not in streams:
            problems.append(f"{src.stream}: not mirrored")
            continue
        parts = reader.parts(harness, src.stream)
        got = reader.read(parts, 0, sum(p.size for p in parts))
        meta = json.loads(store.get(f"sessions/{harness}/{src.stream}/{META_LEAF}").body)
        if meta.get("parent_session_id") != src.parent:
            problems.append(
                f"{src.stream}: parent_session_id {meta.get('parent_session_id')!r},"
                f" expected {src.parent!r}"
            )
        if src.raw is not None:
            if got != src.raw:
                problems.append(f"{src.stream}: {len(got)} bytes mirrored, {len(src.raw)} stored")
            continue
        lines = [json.loads(line) for line in got.splitlines()]
        if src.by_id:
            last = {(d["type"], d["id"]): d for d in lines}
            want = {(d["type"], d["id"]): d for d in src.rows}
            if last != want:
                diff = sorted(k for k in want.keys() | last.keys() if last.get(k) != want.get(k))
                problems.append(f"{src.stream}: rows differ: {diff[:5]}")
        elif lines != src.rows:
            problems.append(f"{src.stream}: {len(lines)} rows mirrored, {len(src.rows)} stored")
    return problems

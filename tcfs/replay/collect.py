"""What the viewer shows, read from the bucket through the protocol layer.

``collect`` gathers the project's events (logged and derived from the CLI's
records), the chain check, the agents, and an index of the mirrored sessions.
Transcripts themselves are read per session by ``transcript`` so the page can
carry them compressed and decode them only when one is opened.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from tcfs.errors import CorruptObject, InvalidName, NotFound, TcfsError
from tcfs.protocol import keys, records
from tcfs.protocol.agents import Agents
from tcfs.protocol.events.event import Event
from tcfs.protocol.events.reader import read_all
from tcfs.protocol.events.verify import verify
from tcfs.protocol.sessions import SessionReader
from tcfs.replay.conversation import Entry, normalize
from tcfs.store.base import ObjectInfo, Store

_TS = re.compile(rb'"timestamp"\s*:\s*(?:"([^"]{10,40})"|([0-9]{10,13})[,}])')
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Filters:
    since: float | None = None
    agents: frozenset[str] = frozenset()
    steps: frozenset[str] = frozenset()

    def keep(self, ev: Event) -> bool:
        if self.since is not None and ev.ts < self.since:
            return False
        if self.agents and ev.agent not in self.agents and ev.subject not in self.agents:
            return False
        if self.steps:
            step = ev.detail.get("step")
            scope = (ev.subject or "").split("/", 1)[0] if ev.kind.startswith("artifact") else None
            if ev.subject not in self.steps and step not in self.steps and scope not in self.steps:
                return False
        return True


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: an ISO time (UTC unless it says otherwise) or an age (``30m``, ``2h``)."""
    now = time.time() if now is None else now
    m = _DURATION.fullmatch(text.strip())
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    dt = records.parse_iso(text.strip())
    if dt is None:
        raise InvalidName(
            f"--since {text!r}: give an ISO time (2026-12-01T08:00) or an age (30m, 2h)"
        )
    return dt.timestamp()


@dataclass
class Session:
    n: int
    harness: str
    id: str
    agent: str | None
    parent: str | None
    size: int
    t0: float | None
    t1: float | None

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Transcript:
    lines: list[str]
    ts: list[float | None]
    conversation: list[Entry] = field(default_factory=list)


@dataclass
class Snapshot:
    project: str
    generated_at: float
    agents: list[str]
    events: list[Event]
    problems: list[str]
    sessions: list[Session] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "generated_at": self.generated_at,
            "agents": self.agents,
            "events": [event_json(e) for e in self.events],
            "problems": self.problems,
            "sessions": [s.to_json() for s in self.sessions],
        }


def event_json(ev: Event) -> dict[str, object]:
    doc = ev.to_json()
    doc["line"] = ev.line()
    return doc


def _line_ts(line: bytes) -> float | None:
    m = _TS.search(line)
    if m is None:
        return None
    if m.group(2):
        n = int(m.group(2))
        return n / 1000 if n > 10**11 else float(n)
    dt = records.parse_iso(m.group(1).decode(errors="replace"))
    return dt.timestamp() if dt else None


def transcript(
    reader: SessionReader, harness: str, session_id: str, start_line: int = 0
) -> Transcript:
    """A session's lines from ``start_line`` on, each with its time (the
    line's own ``timestamp`` where it has one, else the time its part was
    uploaded), and the conversation they hold."""
    parts = reader.parts(harness, session_id)
    mtimes = _part_mtimes(reader.store, harness, session_id)
    lines: list[str] = []
    stamps: list[float | None] = []
    index = 0
    for part in parts:
        body = reader.read([part], part.offset, part.size)
        for raw in body.splitlines():
            if index >= start_line:
                lines.append(raw.decode("utf-8", errors="replace"))
                stamps.append(_line_ts(raw) or mtimes.get(part.key))
            index += 1
    return Transcript(lines, stamps, normalize(harness, lines, start_line))


def _part_mtimes(store: Store, harness: str, session_id: str) -> dict[str, float]:
    prefix = keys.session_prefix(harness, session_id)
    return {e.key: e.mtime for e in store.list(prefix) if isinstance(e, ObjectInfo)}


def sessions(store: Store) -> list[Session]:
    """Every mirrored session with its agent, parent and time span (from the
    first and last lines' stamps, read with two small ranged GETs)."""
    reader = SessionReader(store)
    out: list[Session] = []
    for harness in reader.harnesses():
        for sid in reader.sessions(harness):
            try:
                out.append(_session(reader, len(out), harness, sid))
            except (TcfsError, ValueError):  # shown without a span, never fatal
                out.append(Session(len(out), harness, sid, None, None, 0, None, None))
    return out


def _session(reader: SessionReader, n: int, harness: str, sid: str) -> Session:
    agent = parent = None
    try:
        mkey = keys.meta_key(harness, sid)
        doc = records.decode(reader.store.get(mkey).body, mkey)
        agent = doc.get("agent_id") if isinstance(doc.get("agent_id"), str) else None
        parent = (
            doc.get("parent_session_id") if isinstance(doc.get("parent_session_id"), str) else None
        )
    except (NotFound, CorruptObject):
        pass
    parts = reader.parts(harness, sid)
    size = sum(p.size for p in parts)
    t0 = t1 = None
    if parts:
        mtimes = _part_mtimes(reader.store, harness, sid)
        head = reader.read(parts, 0, min(size, 4096)).split(b"\n")
        tail = reader.read(parts, max(0, size - 4096), 4096).split(b"\n")
        t0 = next((t for line in head if (t := _line_ts(line))), mtimes.get(parts[0].key))
        t1 = next(
            (t for line in reversed(tail) if (t := _line_ts(line))), mtimes.get(parts[-1].key)
        )
    return Session(n, harness, sid, agent, parent, size, t0, t1)


def agents_of(store: Store, events: Iterable[Event], extra: Sequence[Session]) -> list[str]:
    """Every agent that has a record, an event, or a transcript."""
    found = set(Agents(store, "replay").ids())
    found.update(e.agent for e in events if e.agent != "?")
    found.update(s.agent for s in extra if s.agent)
    return sorted(found)


def with_old_values(events: Iterable[Event]) -> list[Event]:
    """Memory sets that do not say what they replaced get the value of the
    previous set of the same key (``old``, and ``old_from``: that event's id)."""
    last: dict[str, Event] = {}
    out: list[Event] = []
    for ev in events:
        key = ev.subject
        if ev.kind in ("memory-set", "memory-delete") and key:
            before = last.get(key)
            fill = ev.kind == "memory-set" and "old" not in ev.detail
            if fill and before is not None and before.kind == "memory-set":
                old = before.detail.get("value")
                ev = replace(ev, detail={**ev.detail, "old": old, "old_from": before.id})
            last[key] = ev
        out.append(ev)
    return out


def collect(store: Store, filters: Filters = Filters(), *, with_sessions: bool = True) -> Snapshot:
    evs, malformed = read_all(store)
    problems = [f"{p.agent}: {p.message}" for p in verify(evs, malformed)]
    sess = sessions(store) if with_sessions else []
    if filters.agents:
        sess = [s for s in sess if s.agent in filters.agents]
    if filters.since is not None:
        sess = [s for s in sess if s.t1 is None or s.t1 >= filters.since]
    kept = [e for e in with_old_values(evs) if filters.keep(e)]
    return Snapshot(
        project=store.project,
        generated_at=time.time(),
        agents=agents_of(store, kept, sess) if not filters.agents else sorted(filters.agents),
        events=kept,
        problems=problems,
        sessions=sess,
    )

"""The event log: who did what, when, as a per-agent hash chain under ``events/``.

Every coordination action a mount takes is recorded as an :class:`Event` after
the action succeeded.  :class:`EventWriter` queues events in memory and a
background thread writes them in batches, one object per flush
(``events/<ns>_<agent>_<uuid8>.json``), so an action pays a list append and the
bucket sees far less than one request per action.  Writes are best-effort with
retries: a failed flush keeps its batch (same key, same bytes) for the next
round, so an event is written at least once and a reader deduplicates by id.

Each event carries its agent's sequence number and the hash of that agent's
previous event; :func:`verify` walks every chain and names gaps, edits and
forgeries.  :class:`CliRecords` derives events from what the ``tracecraft`` CLI
wrote (messages, memory history, claims, statuses and handoffs without tcfs's
epoch), and :class:`EventTail` follows both for ``events`` on the mount and for
``tcfs replay --serve``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

from tcfs.errors import CorruptObject, NotFound, TcfsError
from tcfs.protocol import keys, records
from tcfs.store.base import ObjectInfo, Store

if TYPE_CHECKING:
    from tcfs.protocol.file_reservations import Reservation
    from tcfs.protocol.memory import MemoryValue
    from tcfs.protocol.messages import Message
    from tcfs.protocol.steps import Claim

log = logging.getLogger(__name__)

SCHEMA = 1
KINDS = (
    "claim",
    "takeover",
    "release",
    "renew-failed",
    "status",
    "handoff",
    "send",
    "broadcast",
    "memory-set",
    "memory-delete",
    "artifact-put",
    "artifact-delete",
    "agent-up",
    "agent-down",
    "reserve",
    "reserve-release",
    "reserve-lost",
)
#: text fields of a detail are cut to this many characters
EXCERPT = 200
#: at most this many events per batch object (a batch stays far below MAX_RECORD)
MAX_BATCH = 500
#: events waiting beyond this are dropped (oldest first) and counted: a bucket
#: that is down for long must not grow the daemon without bound
MAX_PENDING = 100_000
#: a reader re-lists this far behind its newest key, for writers whose clocks lag
GRACE_NS = 5 * 1_000_000_000
#: records the CLI may have written are only derived once they are this old,
#: so a mount's own record is not mistaken for the CLI's while its event is
#: still in the writer's queue
CLI_SETTLE_S = 3.0

Scalar = str | int | float | bool | None
Detail = dict[str, Scalar]

_BATCH_LEAF = re.compile(r"[0-9]{19}_[A-Za-z0-9][A-Za-z0-9_.-]{0,127}_[0-9a-f]{8}\.json")
# C0/C1 controls and DEL: an event line must never drive a terminal (tail -f)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """The start of ``text``, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean(value: object) -> Scalar:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return excerpt(str(value))


def _canonical(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Event:
    """One thing an agent did.  ``source`` is ``tcfs`` (from the log) or ``cli``
    (derived from a record the tracecraft CLI wrote)."""

    id: str
    ts: float
    agent: str
    kind: str
    subject: str | None = None
    epoch: int | None = None
    detail: Detail = field(default_factory=dict)
    seq: int | None = None
    prev: str | None = None
    hash: str | None = None
    source: str = "tcfs"
    key: str | None = None  # the batch or record it was read from

    def chained_fields(self) -> dict[str, object]:
        """What the hash covers: everything the writer wrote but the hash."""
        return {
            "id": self.id,
            "ts": self.ts,
            "agent": self.agent,
            "kind": self.kind,
            "subject": self.subject,
            "epoch": self.epoch,
            "detail": self.detail,
            "seq": self.seq,
            "prev": self.prev,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(_canonical(self.chained_fields())).hexdigest()

    def to_json(self) -> dict[str, object]:
        doc = self.chained_fields()
        doc.update(hash=self.hash, source=self.source, key=self.key)
        return doc

    def covers(self) -> str | None:
        """The CLI-compatible record this event accounts for, so the same
        record is not derived a second time as the CLI's."""
        if self.kind in ("send", "broadcast"):
            key = self.detail.get("key")
            return key if isinstance(key, str) else None
        if self.kind == "memory-set":
            return _memory_cover(self.subject, self.agent, self.detail.get("set_at"))
        return None

    def line(self) -> str:
        """One human-readable line, free of control characters."""
        when = datetime.fromtimestamp(self.ts, timezone.utc).strftime("%H:%M:%S")
        text = f"{when} {self.agent} {describe(self)}"
        if self.source == "cli":
            text += " [tracecraft CLI]"
        return _CONTROL.sub(_escape_control, text)


def _escape_control(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group(0)):02x}"


def _memory_cover(key: object, agent: str, set_at: object) -> str | None:
    return f"memory:{key}:{agent}:{set_at}" if isinstance(set_at, str) else None


def _quote(value: Scalar) -> str:
    return json.dumps(value, ensure_ascii=False)


def _size(n: Scalar) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


#: each kind's words; the fields are those of ``_fields``
WORDS = {
    "claim": "claimed {s}{again} ({epoch}, {lease})",
    "takeover": "took over {s} from {from} ({epoch})",
    "release": "released {s}",
    "renew-failed": "lost the lease on {s} ({epoch}): {reason}",
    "status": "set {s} to {status}",
    "handoff": "handed off {s}{to} ({state}): {note}",
    "send": "sent {s} {text}",
    "broadcast": "broadcast {text}",
    "memory-set": "set memory {s} = {old}{value}",
    "memory-delete": "deleted memory {s}",
    "artifact-put": "uploaded artifact {s} ({size})",
    "artifact-delete": "deleted artifact {s}",
    "agent-up": "is up ({how})",
    "agent-down": "is down ({how})",
    "reserve": "reserved {s}{again}{taken}: {globs}",
    "reserve-release": "released reservation {s}",
    "reserve-lost": "lost reservation {s}: {reason}",
}


def _fields(ev: Event) -> dict[str, str]:
    d = ev.detail
    lease = d.get("lease_s")
    return {
        "s": ev.subject or "?",
        "epoch": f"epoch {ev.epoch}" if ev.epoch is not None else "no epoch",
        "lease": f"lease {lease:g} s" if isinstance(lease, (int, float)) else "no lease",
        "again": " again" if d.get("renewed") else "",
        "from": str(d.get("from", "?")),
        "reason": str(d.get("reason", "renewal refused")),
        "status": str(d.get("status", "?")),
        "to": f" to {d['next_agent']}" if d.get("next_agent") else "",
        "state": str(d.get("state") or "complete"),
        "note": _quote(d.get("note", "")),
        "text": _quote(d.get("text", "")),
        "old": f"{_quote(d['old'])} → " if "old" in d else "",
        "value": _quote(d.get("value", "")),
        "size": _size(d.get("size")),
        "how": str(d.get("how") or ("mounted" if ev.kind == "agent-up" else "unmounted")),
        "globs": str(d.get("globs", "?")),
        "taken": f" (expired, from {d['from']})" if d.get("from") else "",
    }


def describe(ev: Event) -> str:
    """What happened, in words (the line without time and agent)."""
    words = WORDS.get(ev.kind)
    return words.format(**_fields(ev)) if words else f"{ev.kind} {ev.subject or '?'}"


# ---------------------------------------------------------------- parsing


def _event_from(doc: object, key: str) -> Event:
    """An event from a batch; raises ``CorruptObject`` on any wrong shape."""
    if not isinstance(doc, dict):
        raise CorruptObject(f"{key}: an event is not a JSON object")
    detail = records.field(doc, "detail", dict, key, default={})
    clean: Detail = {}
    for name, value in detail.items():
        if isinstance(name, str):
            clean[name] = value if isinstance(value, (str, int, float, bool)) else _clean(value)
    ts = records.field(doc, "ts", (int, float), key, required=True)
    return Event(
        id=records.field(doc, "id", str, key, required=True),
        ts=float(ts),
        agent=records.field(doc, "agent", str, key, required=True),
        kind=records.field(doc, "kind", str, key, required=True),
        subject=records.field(doc, "subject", str, key),
        epoch=records.field(doc, "epoch", int, key),
        detail=clean,
        seq=records.field(doc, "seq", int, key),
        prev=records.field(doc, "prev", str, key),
        hash=records.field(doc, "hash", str, key),
        key=key,
    )


@dataclass
class Batch:
    key: str
    events: list[Event]
    problems: list[str]


def parse_batch(body: bytes, key: str) -> Batch:
    """The events of one batch object; malformed ones are reported, not raised."""
    try:
        doc = records.decode(body, key)
        raw = records.field(doc, "events", list, key, required=True)
    except CorruptObject as exc:
        return Batch(key, [], [str(exc)])
    out: list[Event] = []
    problems: list[str] = []
    for i, item in enumerate(raw):
        try:
            out.append(_event_from(item, key))
        except CorruptObject as exc:
            problems.append(f"event {i}: {exc}")
    return Batch(key, out, problems)


def batch_keys(store: Store, *, start_after: str | None = None) -> Iterable[ObjectInfo]:
    """Batch objects in key (time) order; foreign objects are skipped."""
    for e in store.list(keys.EVENTS_ROOT, start_after=start_after, delimiter="/"):
        if isinstance(e, ObjectInfo) and _BATCH_LEAF.fullmatch(e.key[len(keys.EVENTS_ROOT) :]):
            yield e


def _read_batch(store: Store, key: str) -> Batch:
    try:
        return parse_batch(store.get(key).body, key)
    except NotFound:
        return Batch(key, [], [])


def dedup(events: Iterable[Event]) -> list[Event]:
    """One event per id, in time order (the log is written at least once)."""
    seen: dict[str, Event] = {}
    for ev in events:
        seen.setdefault(ev.id, ev)
    return sorted(seen.values(), key=lambda e: (e.ts, e.agent, e.seq or 0, e.id))


# ---------------------------------------------------------------- writing


class EventSink(Protocol):
    """Where an action's event goes: an ``EventWriter``, or ``NoEvents``."""

    def emit(
        self, kind: str, subject: str | None = None, *, epoch: int | None = None, **detail: object
    ) -> None: ...


class NoEvents:
    """No event log (a core built without one, as in-process tests do)."""

    def emit(
        self, kind: str, subject: str | None = None, *, epoch: int | None = None, **detail: object
    ) -> None:
        return None


class EventWriter:
    """Records one agent's events without ever failing or blocking the caller.

    ``emit`` appends to a queue under a lock; a daemon thread flushes it every
    ``interval`` seconds (and at ``close``), chaining events as it batches them.
    """

    def __init__(
        self,
        store: Store,
        agent: str,
        *,
        interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.agent = agent
        self.interval = interval
        self.clock = clock
        self._pending: list[Event] = []
        self._inflight: tuple[str, bytes, int] | None = None  # key, body, events in it
        self._head: tuple[int, str | None] | None = None  # last seq and hash written
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        #: set once another mount took the agent id over: its log is theirs now
        self._stopped = False
        self.written = 0
        self.batches = 0
        self.dropped = 0
        self.failures = 0

    # ----- the caller's side: never raises -----

    def emit(
        self,
        kind: str,
        subject: str | None = None,
        *,
        epoch: int | None = None,
        **detail: object,
    ) -> None:
        if self._stopped:
            return
        try:
            now = self.clock()
            ev = Event(
                id=keys.append_key("", self.agent, int(now * 1e9))[: -len(".json")],
                ts=round(now, 6),
                agent=self.agent,
                kind=kind,
                subject=subject,
                epoch=epoch,
                detail={k: _clean(v) for k, v in detail.items() if v is not None},
            )
            with self._cond:
                self._pending.append(ev)
                if len(self._pending) > MAX_PENDING:
                    del self._pending[0]
                    self.dropped += 1
        except Exception:  # recording must never break the action it records
            log.exception("could not record a %s event", kind)

    # ----- the background side -----

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tcfs-events", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closing:
                    self._cond.wait(self.interval)
                closing = self._closing
            try:
                # closing drains the queue; otherwise one round sends what was
                # queued when it began, so a busy agent fills batches
                if closing:
                    self.flush()
                else:
                    self._flush_round()
            except Exception:
                log.exception("event log flush failed; will retry")
            if closing:
                return

    def stop(self) -> None:
        """Write no more events (queued ones are dropped): another mount of the
        agent writes its log now, and two writers would fork its hash chain."""
        with self._cond:
            self._stopped = True
            self.dropped += len(self._pending)
            self._pending.clear()

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (bounded by ``timeout``) and stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("event log: %d event(s) not written at shutdown", self.pending())
        else:
            self.flush()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending) + (self._inflight[2] if self._inflight else 0)

    def flush(self) -> bool:
        """Write everything queued; True when nothing is left.  Blocking."""
        while True:
            if self._inflight is None:
                if not self._ensure_head():
                    return False
                if not self._next_batch():
                    return True
            if not self._send():
                return False

    def _load_head(self) -> tuple[int, str | None]:
        """This agent's last written event (a restarted mount continues its chain)."""
        last: str | None = None
        for info in batch_keys(self.store):
            if keys.key_sender(info.key, keys.EVENTS_ROOT) == self.agent:
                last = info.key
        if last is None:
            return -1, None
        mine = [e for e in _read_batch(self.store, last).events if e.agent == self.agent]
        top = max(mine, key=lambda e: e.seq if e.seq is not None else -1, default=None)
        if top is None or top.seq is None:
            return -1, None
        return top.seq, top.hash

    def _flush_round(self) -> None:
        with self._cond:
            batches = -(-len(self._pending) // MAX_BATCH)
        if self._inflight is not None:
            batches += 1
        for _ in range(batches):
            if self._inflight is None and not (self._ensure_head() and self._next_batch()):
                return
            if not self._send():
                return

    def _ensure_head(self) -> bool:
        if self._head is None:
            try:
                self._head = self._load_head()
            except TcfsError as exc:
                self.failures += 1
                log.warning("event log: cannot find this agent's last event yet: %s", exc)
                return False
        return True

    def _next_batch(self) -> bool:
        assert self._head is not None
        with self._cond:
            take, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not take:
            return False
        seq, prev = self._head
        chained = []
        for ev in take:
            seq += 1
            ev = replace(ev, seq=seq, prev=prev)
            ev = replace(ev, hash=ev.compute_hash())
            prev = ev.hash
            chained.append(ev)
        self._head = (seq, prev)
        key = keys.event_batch_key(self.agent, time.time_ns())
        body = records.encode(
            {
                "schema": SCHEMA,
                "agent": self.agent,
                "events": [
                    {k: v for k, v in e.to_json().items() if k not in ("source", "key")}
                    for e in chained
                ],
            }
        )
        self._inflight = (key, body, len(chained))
        return True

    def _send(self) -> bool:
        assert self._inflight is not None
        key, body, n = self._inflight
        if self._stopped:  # not even a batch already chained: the log is not ours
            self._inflight = None
            self.dropped += n
            return False
        try:
            self.store.put(key, body)  # the store retries; a failed batch waits for the next pass
        except Exception as exc:
            self.failures += 1
            log.warning("event log: batch of %d event(s) not written yet: %s", n, exc)
            return False
        self._inflight = None
        self.written += n
        self.batches += 1
        return True


# ---------------------------------------------------------------- what an action records


def record_claim(sink: EventSink, claim: Claim) -> None:
    """A claim as ``Steps.claim`` made it: fresh, renewed, or taken over."""
    if claim.taken_from:
        sink.emit(
            "takeover",
            claim.step,
            epoch=claim.epoch,
            lease_s=claim.lease_ttl_s,
            **{"from": claim.taken_from},
        )
    else:
        sink.emit(
            "claim",
            claim.step,
            epoch=claim.epoch,
            lease_s=claim.lease_ttl_s,
            renewed=claim.renewed or None,
        )


def record_reservation(sink: EventSink, made: Reservation) -> None:
    """A reservation as ``FileReservations.reserve`` made it."""
    sink.emit(
        "reserve",
        made.name,
        epoch=made.epoch,
        globs=" ".join(made.globs),
        lease_s=made.lease_ttl_s,
        renewed=made.version > 0 or None,
        **{"from": made.taken_from},
    )


def record_handoff(sink: EventSink, doc: dict[str, object]) -> None:
    """A handoff record as ``Steps.handoff`` wrote it."""
    epoch = doc.get("epoch")
    sink.emit(
        "handoff",
        str(doc.get("from_step")),
        epoch=epoch if isinstance(epoch, int) else None,
        note=doc.get("note"),
        next_agent=doc.get("next_agent"),
        state=doc.get("state"),
    )


def record_message(sink: EventSink, msg: Message) -> None:
    kind = "broadcast" if msg.broadcast else "send"
    sink.emit(kind, msg.to, text=msg.text, key=msg.key, size=len(msg.text.encode()))


def record_memory_set(sink: EventSink, value: MemoryValue) -> None:
    sink.emit(
        "memory-set",
        value.dotted,
        value=value.value,
        set_at=value.set_at,
        size=len(value.value.encode()),
    )


# ---------------------------------------------------------------- reading


def read_log(store: Store) -> tuple[list[Event], list[str]]:
    """Every logged event (deduplicated, in time order) and what was malformed."""
    events: list[Event] = []
    problems: list[str] = []
    for info in batch_keys(store):
        batch = _read_batch(store, info.key)
        events.extend(batch.events)
        problems.extend(f"{info.key}: {p}" for p in batch.problems)
    return dedup(events), problems


class CliRecords:
    """Events derived from records the tracecraft CLI wrote.

    Messages and memory history entries are immutable, so each is read once;
    step records are read again only when their ETag changed.  A record that a
    logged tcfs event accounts for (``Event.covers``, or an ``epoch`` field in
    a step record) is not derived.
    """

    def __init__(self, store: Store, *, settle_s: float = 0.0) -> None:
        self.store = store
        self.settle_s = settle_s
        self._seen: dict[str, str | None] = {}  # key -> etag already handled

    def sweep(self, covered: set[str]) -> list[Event]:
        out: list[Event] = []
        horizon = time.time() - self.settle_s if self.settle_s > 0 else float("inf")
        for prefix, derive in (
            (keys.MESSAGES_ROOT, self._message),
            (keys.HISTORY_ROOT, self._history),
            (keys.STEPS_ROOT, self._step_record),
        ):
            for info in self.store.list(prefix):
                if not isinstance(info, ObjectInfo) or self._seen.get(info.key, "") == info.etag:
                    continue
                if info.mtime > horizon:
                    continue  # too fresh: its tcfs event may still be on its way
                try:
                    doc = records.decode(self.store.get(info.key).body, info.key)
                    ev = derive(info.key, doc, info.etag)
                except NotFound:
                    continue
                except (CorruptObject, KeyError, TypeError, ValueError) as exc:
                    log.debug("not an event: %s", exc)
                    ev = None
                self._seen[info.key] = info.etag
                if ev is not None and ev.covers() not in covered:
                    out.append(ev)
        return out

    @staticmethod
    def _when(doc: dict[str, object], *names: str, key: str, prefix: str = "") -> float:
        for name in names:
            dt = records.parse_iso(doc.get(name))
            if dt is not None:
                return dt.timestamp()
        ns = keys.key_ts_ns(key, prefix) if prefix else None
        return ns / 1e9 if ns else 0.0

    def _message(self, key: str, doc: dict[str, object], etag: str | None) -> Event | None:
        mailbox, _, leaf = key[len(keys.MESSAGES_ROOT) :].rpartition("/")
        if (
            "/" in mailbox
            or not keys.is_data_leaf(leaf)
            or keys.key_sender(key, keys.mailbox_prefix(mailbox)) is None
        ):
            return None
        sender = doc.get("from")
        text = doc.get("message", "")
        bcast = mailbox == keys.BROADCAST
        return Event(
            id=f"cli:{key}",
            ts=self._when(doc, "sent_at", key=key, prefix=keys.mailbox_prefix(mailbox)),
            agent=sender if isinstance(sender, str) else "?",
            kind="broadcast" if bcast else "send",
            subject=None if bcast else mailbox,
            detail={"text": _clean(text), "key": key, "size": len(str(text).encode())},
            source="cli",
            key=key,
        )

    def _history(self, key: str, doc: dict[str, object], etag: str | None) -> Event | None:
        mkey = doc.get("key")
        setter = doc.get("set_by")
        if not isinstance(mkey, str) or not isinstance(setter, str):
            return None
        value = doc.get("value", "")
        return Event(
            id=f"cli:{key}",
            ts=self._when(doc, "set_at", key=key),
            agent=setter,
            kind="memory-set",
            subject=mkey,
            detail={
                "value": _clean(value),
                "set_at": _clean(doc.get("set_at")),
                "size": len(str(value).encode()),
            },
            source="cli",
            key=key,
        )

    def _step_record(self, key: str, doc: dict[str, object], etag: str | None) -> Event | None:
        found = keys.step_record_of(key)
        if found is None or "epoch" in doc:  # tcfs's records carry an epoch: logged already
            return None
        step, leaf = found
        if leaf not in _STEP_RECORDS:
            return None
        kind, who, when, fields = _STEP_RECORDS[leaf]
        agent = doc.get(who)
        if not isinstance(agent, str) or not all(isinstance(doc.get(f), str) for f in fields[:1]):
            return None
        return Event(
            f"cli:{key}:{etag}",
            self._when(doc, *when, key=key),
            agent,
            kind,
            step,
            detail={f: _clean(doc[f]) for f in fields if doc.get(f) is not None},
            source="cli",
            key=key,
        )


#: a step record the CLI wrote: its event kind, who acted, the times to try in
#: order, and the fields the detail keeps (the first one is required)
_STEP_RECORDS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "claim": ("claim", "agent", ("claimed_at",), ()),
    "status": ("status", "agent", ("completed_at", "started_at"), ("status",)),
    "handoff": (
        "handoff",
        "from_agent",
        ("created_at",),
        ("state", "note", "next_agent", "next_action"),
    ),
}


def read_all(store: Store) -> tuple[list[Event], list[str]]:
    """The logged events plus those derived from the CLI's records."""
    logged, problems = read_log(store)
    covered = {c for e in logged if (c := e.covers()) is not None}
    return dedup([*logged, *CliRecords(store).sweep(covered)]), problems


class EventTail:
    """Follows the project's events: each ``poll`` returns what is new.

    One LIST per poll, starting :data:`GRACE_NS` behind the newest batch seen
    (writers' clocks differ), and a GET per new batch; the CLI's records are
    swept every ``cli_every`` seconds.  The first poll returns the history.
    """

    def __init__(self, store: Store, *, cli_every: float = 10.0) -> None:
        self.store = store
        self.cli = CliRecords(store, settle_s=CLI_SETTLE_S)
        self.cli_every = cli_every
        self._next_sweep = 0.0
        self._batches: dict[str, int] = {}  # batch key -> its ns, already read
        self._ids: set[str] = set()
        self._covered: set[str] = set()
        self._newest_ns = 0
        self.problems: list[str] = []

    def poll(self) -> list[Event]:
        fresh: list[Event] = []
        start = keys.event_watermark(self._newest_ns - GRACE_NS) if self._newest_ns else None
        for info in batch_keys(self.store, start_after=start):
            if info.key in self._batches:
                continue
            ns = keys.key_ts_ns(info.key, keys.EVENTS_ROOT) or 0
            batch = _read_batch(self.store, info.key)
            self._batches[info.key] = ns
            self._newest_ns = max(self._newest_ns, ns)
            self.problems.extend(f"{info.key}: {p}" for p in batch.problems)
            fresh.extend(batch.events)
        # forget batches the next LIST cannot return again
        floor = self._newest_ns - GRACE_NS
        self._batches = {k: v for k, v in self._batches.items() if v > floor}
        new = [e for e in dedup(fresh) if e.id not in self._ids]
        for e in new:
            self._ids.add(e.id)
            if (c := e.covers()) is not None:
                self._covered.add(c)
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.cli_every
            new += [e for e in self.cli.sweep(self._covered) if e.id not in self._ids]
            self._ids.update(e.id for e in new)
        return dedup(new)


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Problem:
    agent: str
    what: str  # gap | edited | broken | forked | misfiled | malformed
    message: str
    event_id: str | None = None


def verify(events: Iterable[Event], malformed: Iterable[str] = ()) -> list[Problem]:
    """Check each agent's chain: every event hashes to what it says, follows
    the hash of the one before it, and the sequence has no holes."""
    problems = [Problem("?", "malformed", m) for m in malformed]
    by_agent: dict[str, list[Event]] = {}
    for ev in events:
        if ev.source != "tcfs":
            continue
        owner = keys.key_sender(ev.key, keys.EVENTS_ROOT) if ev.key else None
        if owner is not None and owner != ev.agent:
            problems.append(
                Problem(
                    ev.agent,
                    "misfiled",
                    f"event {ev.id} of {ev.agent} is in {owner}'s batch {ev.key}",
                    ev.id,
                )
            )
        by_agent.setdefault(ev.agent, []).append(ev)
    for agent, evs in sorted(by_agent.items()):
        problems.extend(_verify_chain(agent, evs))
    return problems


def _verify_chain(agent: str, evs: list[Event]) -> list[Problem]:
    out: list[Problem] = []
    by_seq: dict[int, Event] = {}
    for ev in evs:
        if ev.seq is None or ev.hash is None:
            out.append(
                Problem(agent, "malformed", f"event {ev.id} has no sequence number or hash", ev.id)
            )
            continue
        if ev.compute_hash() != ev.hash:
            out.append(
                Problem(
                    agent,
                    "edited",
                    f"event #{ev.seq} ({ev.id}) was changed after it was written: "
                    "its hash does not match its content",
                    ev.id,
                )
            )
        other = by_seq.get(ev.seq)
        if other is not None and other.hash != ev.hash:
            out.append(
                Problem(
                    agent,
                    "forked",
                    f"two different events claim #{ev.seq}: {other.id} and {ev.id}",
                    ev.id,
                )
            )
            continue
        by_seq[ev.seq] = ev
    seqs = sorted(by_seq)
    if seqs and seqs[0] != 0:
        out.append(
            Problem(
                agent,
                "gap",
                f"the chain starts at #{seqs[0]}: events #0–#{seqs[0] - 1} are missing",
            )
        )
    elif seqs and by_seq[0].prev is not None:
        out.append(Problem(agent, "broken", "event #0 names a previous event", by_seq[0].id))
    for a, b in itertools.pairwise(seqs):
        ea, eb = by_seq[a], by_seq[b]
        if b != a + 1:
            missing = f"#{a + 1}" if b == a + 2 else f"#{a + 1}–#{b - 1}"
            out.append(
                Problem(
                    agent,
                    "gap",
                    f"events {missing} are missing (between {ea.id} and {eb.id})",
                    eb.id,
                )
            )
        elif eb.prev != ea.hash:
            out.append(
                Problem(
                    agent,
                    "broken",
                    f"event #{b} ({eb.id}) does not follow #{a}: its previous hash is not #{a}'s",
                    eb.id,
                )
            )
    return out


def chain_summary(events: Iterable[Event]) -> dict[str, int]:
    """Events per agent in the log (for ``--verify``'s report)."""
    counts: dict[str, int] = {}
    for ev in events:
        if ev.source == "tcfs":
            counts[ev.agent] = counts.get(ev.agent, 0) + 1
    return counts

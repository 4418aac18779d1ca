"""Events derived from the records the ``tracecraft`` CLI wrote, which writes
no events: its messages, memory history entries, and claims, statuses and
handoffs without tcfs's epoch.  Each record is read by its own module's
parser (``messages``, ``memory``, ``steps``); one that parser refuses is no
event."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tcfs.errors import CorruptObject, NotFound
from tcfs.protocol import keys, memory, messages, records, steps
from tcfs.protocol.events.event import Detail, Event, clean
from tcfs.store.base import ObjectInfo, Store

log = logging.getLogger(__name__)

#: records the CLI may have written are only derived once they are this old,
#: so a mount's own record is not mistaken for the CLI's while its event is
#: still in the writer's queue
CLI_SETTLE_S = 3.0

#: derives the event a record implies (None: none) from its key, body and ETag
Derive = Callable[[str, dict[str, object], str | None], Event | None]


def _time(*stamps: float | None) -> float:
    """The first of a record's times it has, else 0."""
    return next((t for t in stamps if t is not None), 0.0)


def message_event(key: str, doc: dict[str, object], etag: str | None) -> Event | None:
    mailbox = messages.mailbox_of(key)
    if mailbox is None:
        return None
    msg = messages.parse_message(key, doc)
    sent = keys.key_ts_ns(key, keys.parent_prefix(key))
    return Event(
        id=f"cli:{key}",
        ts=_time(records.timestamp(msg.sent_at), sent / 1e9 if sent else None),
        agent=msg.sender,
        kind="broadcast" if msg.broadcast else "send",
        subject=None if msg.broadcast else mailbox,
        detail={"text": clean(msg.text), "key": key, "size": len(msg.text.encode())},
        source="cli",
        key=key,
    )


def history_event(key: str, doc: dict[str, object], etag: str | None) -> Event | None:
    entry = memory.parse_history_entry(key, doc)
    return Event(
        id=f"cli:{key}",
        ts=_time(records.timestamp(entry.set_at)),
        agent=entry.set_by,
        kind="memory-set",
        subject=entry.key,
        detail={
            "value": clean(entry.value),
            "set_at": clean(entry.set_at),
            "size": len(entry.value.encode()),
        },
        source="cli",
        key=key,
    )


def step_event(key: str, doc: dict[str, object], etag: str | None) -> Event | None:
    if steps.record_epoch(doc) is not None:  # tcfs's records carry an epoch: logged already
        return None
    record = steps.parse_record(key, doc, etag or "")
    detail: Detail = {}
    agent: str | None
    if isinstance(record, steps.Claim):
        kind, agent, ts = "claim", record.agent, _time(records.timestamp(record.claimed_at))
    elif isinstance(record, steps.StatusRecord) and record.status is not None:
        kind, agent, ts = "status", record.agent, _time(record.completed, record.started)
        detail["status"] = clean(record.status)
    elif isinstance(record, steps.HandoffRecord) and record.state is not None:
        kind, agent = "handoff", record.from_agent
        ts = _time(records.timestamp(record.created_at))
        said = {
            "state": record.state,
            "note": record.note,
            "next_agent": record.next_agent,
            "next_action": record.next_action,
        }
        detail.update((name, clean(value)) for name, value in said.items() if value is not None)
    else:
        return None
    if agent is None:
        return None
    return Event(
        f"cli:{key}:{etag}", ts, agent, kind, record.step, detail=detail, source="cli", key=key
    )


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
        derivations: tuple[tuple[str, Derive], ...] = (
            (keys.MESSAGES_ROOT, message_event),
            (keys.HISTORY_ROOT, history_event),
            (keys.STEPS_ROOT, step_event),
        )
        for prefix, derive in derivations:
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

"""Batch objects, ``events/<ns>_<agent>_<uuid8>.json``: one writer flush of
one agent's events, ``{"schema", "agent", "events": [...]}``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tcfs.errors import CorruptObject, NotFound
from tcfs.protocol import keys, records
from tcfs.protocol.events.event import Event, event_from, written_form
from tcfs.store.base import ObjectInfo, Store

SCHEMA = 1

_BATCH_LEAF = re.compile(r"[0-9]{19}_[A-Za-z0-9][A-Za-z0-9_.-]{0,127}_[0-9a-f]{8}\.json")


@dataclass
class Batch:
    key: str
    events: list[Event]
    problems: list[str]


def encode_batch(agent: str, events: Sequence[Event]) -> bytes:
    """The body of a batch of ``agent``'s chained events."""
    return records.encode(
        {"schema": SCHEMA, "agent": agent, "events": [written_form(e) for e in events]}
    )


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
            out.append(event_from(item, key))
        except CorruptObject as exc:
            problems.append(f"event {i}: {exc}")
    return Batch(key, out, problems)


def batch_keys(store: Store, *, start_after: str | None = None) -> Iterable[ObjectInfo]:
    """Batch objects in key (time) order; foreign objects are skipped."""
    for e in store.list(keys.EVENTS_ROOT, start_after=start_after, delimiter="/"):
        if isinstance(e, ObjectInfo) and _BATCH_LEAF.fullmatch(e.key[len(keys.EVENTS_ROOT) :]):
            yield e


def read_batch(store: Store, key: str) -> Batch:
    """The batch at ``key``; one deleted since it was listed is empty."""
    try:
        return parse_batch(store.get(key).body, key)
    except NotFound:
        return Batch(key, [], [])

"""Shared memory: ``memory/<a>/<b>.json`` is the CLI's key ``a.b``.

Every set writes an immutable history entry and the live key.  They do not
depend on each other, so they travel together (one round trip, where the CLI
spends two).  The set succeeds only when both are written (each with the
store's retries); if either fails, so does the set.  What a crash can leave:
the history entry without the value (an extra entry, as the CLI's order can leave), or the
value without its history entry.  The latter is harmless: the value record
itself names who set it and when (``set_by``, ``set_at``, the fields a history
entry holds), so no value is ever unaccounted for, and the key's next set
records both again.  (A store whose requests are no round trips, ``local``,
writes them in turn, history first: the CLI's order.)  A set that fails
removes the history entry it wrote, and a set may rewrite the entry an
earlier set of the same write made (``entry``): one write, one entry.
``update`` is the compare-and-swap an append needs.  Listing is per
directory with a delimiter, so ``a`` never bleeds into ``a0`` (the peer's
prefix bug).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from tcfs import names
from tcfs.errors import (
    CorruptObject,
    InvalidArgument,
    InvalidName,
    NotFound,
    TcfsError,
    TooLarge,
)
from tcfs.protocol import cas, keys, records
from tcfs.protocol.parallel import both, settle, start
from tcfs.store.base import CommonPrefix, ObjectInfo, Store

log = logging.getLogger(__name__)

MAX_VALUE = 1 << 20
#: a ``>>`` that keeps losing its compare-and-swap gives up after this many tries
UPDATE_ATTEMPTS = 16
#: and waits a random part of this (times the losses so far) before the next
UPDATE_BACKOFF_S = 0.02
#: names remembered as holding a value (a lookup hint, dropped whole past this)
SEEN_MAX = 4096

Key = Sequence[str] | str


@dataclass
class MemoryValue:
    key: tuple[str, ...]
    value: str
    set_by: str | None
    set_at: str | None
    etag: str
    #: the history entry this value was recorded in (when this mount set it)
    entry: str | None = None

    @property
    def dotted(self) -> str:
        return ".".join(self.key)

    def render(self) -> bytes:
        text = self.value
        return (text if text.endswith("\n") else text + "\n").encode()


@dataclass(frozen=True)
class HistoryEntry:
    """One set of a key, as its immutable entry under ``memory/_history/`` has it."""

    key: str  # dotted, as the entry names it
    value: str
    set_by: str
    set_at: str | None


def _value_of(doc: dict[str, object], key: str) -> str:
    """The ``value`` field of a value record or a history entry."""
    if "value" not in doc:
        raise CorruptObject(f"{key}: missing field 'value'")
    value = doc["value"]
    if not isinstance(value, str):  # another tool stored JSON: show it as JSON
        value = json.dumps(value, ensure_ascii=False)
    return value


def parse_history_entry(key: str, doc: dict[str, object]) -> HistoryEntry:
    """The history entry at ``key``; ``CorruptObject`` when a field is missing
    or has the wrong type."""
    return HistoryEntry(
        key=records.field(doc, "key", str, key, required=True),
        value=_value_of(doc, key),
        set_by=records.field(doc, "set_by", str, key, required=True),
        set_at=records.field(doc, "set_at", str, key),
    )


def _checked(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument("memory values are text")
    if len(value.encode()) > MAX_VALUE:
        raise TooLarge(f"memory value is larger than {MAX_VALUE} bytes")
    return value


class Memory:
    def __init__(self, store: Store, agent: str) -> None:
        self.store = store
        self.agent = names.agent_id(agent)
        # Keys this agent has read, written or listed as values.  Only a hint
        # of which requests a lookup sends, never an answer: the GET always goes.
        self._seen: dict[tuple[str, ...], None] = {}

    def _saw(self, parts: tuple[str, ...], holds: bool) -> None:
        if not holds:
            self._seen.pop(parts, None)
            return
        if len(self._seen) >= SEEN_MAX:
            self._seen.clear()
        self._seen[parts] = None

    def set(self, key: Key, value: str, *, entry: str | None = None) -> MemoryValue:
        """Set ``value``.  ``entry``: the history entry an earlier set of the same
        write made, rewritten instead of a new one (one open file, one entry)."""
        parts = names.memory_key(key)
        history = entry or self._new_entry(parts)
        written = self._write(parts, value, history, made=entry is None)
        assert written is not None  # an unconditional put never loses
        return written

    def update(
        self, key: Key, change: Callable[[MemoryValue | None], str], *, entry: str | None = None
    ) -> MemoryValue:
        """Set the value ``change`` makes of the current one (None: absent) by
        compare-and-swap: another writer in between makes the put lose, and the
        change is made again on what that writer left, so no write is lost
        (``>>`` from many agents at once).  ``Contention`` after
        ``UPDATE_ATTEMPTS`` losses; a failed update leaves no new history entry."""
        parts = names.memory_key(key)
        history = entry or self._new_entry(parts)
        sent = False
        try:
            for n in cas.attempts(UPDATE_ATTEMPTS, f"memory key {'.'.join(parts)}"):
                try:
                    current: MemoryValue | None = self.get(parts)
                except NotFound:
                    current = None
                value = _checked(change(current))
                sent = True
                written = self._write(
                    parts,
                    value,
                    history,
                    made=False,
                    swap=True,
                    etag=current.etag if current else None,
                )
                if written is not None:
                    return written
                time.sleep(random.uniform(0, UPDATE_BACKOFF_S * min(n + 1, 8)))
        except BaseException:
            if entry is None and sent:
                self._drop_entry(history)
            raise
        raise AssertionError("unreachable: cas.attempts raises when it runs out")

    def _new_entry(self, parts: tuple[str, ...]) -> str:
        return keys.append_key(keys.memory_history_prefix(parts), self.agent)

    def _write(
        self,
        parts: tuple[str, ...],
        value: str,
        history: str,
        *,
        made: bool,
        swap: bool = False,
        etag: str | None = None,
    ) -> MemoryValue | None:
        """The history entry and the value, together; the value unconditionally,
        or with ``swap`` created only (``etag`` None) or replacing ``etag``:
        None when that condition lost.  A failure removes the history entry
        if this set ``made`` it, so a set that failed leaves no entry."""
        _checked(value)
        doc = {"value": value, "set_by": self.agent, "set_at": records.now_iso()}
        body, k = records.encode(doc), keys.memory_key(parts)

        def put_value() -> str | None:
            if swap:
                return cas.put_if_unchanged(self.store, k, body, etag)
            return self.store.put(k, body)

        try:
            _, new_etag = both(
                lambda: self.store.put(history, records.encode({"key": ".".join(parts), **doc})),
                put_value,
                together=self.store.round_trips,
            )
        except BaseException:
            if made:
                self._drop_entry(history)
            raise
        if new_etag is None:
            return None
        self._saw(parts, True)
        return MemoryValue(parts, value, self.agent, doc["set_at"], new_etag, history)

    def _drop_entry(self, history: str) -> None:
        """Remove the history entry of a set that failed (it set nothing)."""
        try:
            self.store.delete(history)
        except TcfsError as exc:
            log.warning("could not remove the history entry %s of a failed set: %s", history, exc)

    def lookup(self, key: Key) -> tuple[MemoryValue | None, bool]:
        """(the value, or None; whether keys are stored below ``key``, asked only
        for a name without a value).

        Both are asked together, so a name that holds no value costs one round
        trip, not two.  A value found answers at once: the listing is a read
        whose answer a value makes moot, so it finishes on its own (a LIST
        takes longer than a GET on most servers).  A name this agent has seen
        hold a value is asked with the GET alone, since a LIST costs 12.5 GETs
        and a value found needs none; if the value is gone, the listing follows
        (one more round trip, once).  On a store without round trips the
        listing is sent only for a name without a value.
        """
        parts = names.memory_key(key)

        def value() -> MemoryValue | None:
            try:
                return self.get(parts)
            except NotFound:
                return None

        if not self.store.round_trips or parts in self._seen:
            found = value()
            return found, found is None and self.has_children(parts)
        below = start(lambda: self.has_children(parts))
        try:
            found = value()
        except BaseException:
            settle([below])
            raise
        if found is not None:
            return found, False
        return None, below.result()

    def get(self, key: Key) -> MemoryValue:
        parts = names.memory_key(key)
        k = keys.memory_key(parts)
        try:
            blob = self.store.get(k)
        except NotFound:
            self._saw(parts, False)
            raise
        doc = records.decode(blob.body, k)
        value = _value_of(doc, k)
        self._saw(parts, True)
        return MemoryValue(
            parts,
            value,
            records.field(doc, "set_by", str, k),
            records.field(doc, "set_at", str, k),
            blob.etag,
        )

    def delete(self, key: Key) -> None:
        parts = names.memory_key(key)
        k = keys.memory_key(parts)
        self._saw(parts, False)
        self.store.head(k)  # NotFound for an absent key, like rm
        self.store.delete(k)

    def _children(self, prefix: Sequence[str]) -> Iterator[tuple[str, bool] | None]:
        """For each entry of one delimited listing under ``prefix``, as it is
        fetched: ``(name, is_dir)``, or None for an entry tcfs cannot show
        (``_history``, names written by others that break the rules)."""
        parts = tuple(names.memory_part(p) for p in prefix)
        base = keys.memory_dir_prefix(parts)
        for entry in self.store.list(base, delimiter="/"):
            if isinstance(entry, CommonPrefix):
                name, is_dir = keys.child_name(base, entry.prefix), True
            elif isinstance(entry, ObjectInfo) and entry.key.endswith(keys.RECORD_SUFFIX):
                name, is_dir = entry.key[len(base) : -len(keys.RECORD_SUFFIX)], False
            else:
                yield None
                continue
            try:
                yield names.memory_part(name), is_dir
            except InvalidName:
                yield None

    def entries(self, prefix: Sequence[str] = ()) -> tuple[list[str], list[str]]:
        """(value names, subdirectory names) directly under ``prefix``."""
        values: list[str] = []
        dirs: list[str] = []
        for child in self._children(prefix):
            if child is not None:
                (dirs if child[1] else values).append(child[0])
        base = tuple(names.memory_part(p) for p in prefix)
        for name in values:
            self._saw((*base, name), True)
        return values, dirs

    def one_part_keys(self, limit: int = 10_000) -> frozenset[str] | None:
        """The one-part keys (``memory/<a>.json``) from one delimited listing of
        ``memory/``; None when it holds more than ``limit`` names."""
        found: list[str] = []
        for n, child in enumerate(self._children(())):
            if n >= limit:
                return None
            if child is not None and not child[1]:
                found.append(child[0])
        return frozenset(found)

    def has_children(self, prefix: Sequence[str]) -> bool:
        """Whether anything is stored under ``prefix`` (is it a directory?),
        from the first entries of one listing, not all of them."""
        for n, child in enumerate(self._children(prefix)):
            if child is not None:
                return True
            if n >= 1000:  # a page of names tcfs cannot show: treat as empty
                return False
        return False

    def history(self, key: Key, limit: int = 20) -> list[dict[str, object]]:
        parts = names.memory_key(key)
        prefix = keys.memory_history_prefix(parts)
        hist = [
            e.key
            for e in self.store.list(prefix, delimiter="/")
            if isinstance(e, ObjectInfo) and keys.is_data_leaf(e.key[len(prefix) :])
        ]
        if limit > 0:
            hist = hist[-limit:]
        out = []
        for k in hist:
            try:
                out.append(records.decode(self.store.get(k).body, k))
            except NotFound:
                continue
        return out

"""Reading the log: every event at once (``tcfs replay``), or as it grows
(:class:`EventTail`, for ``events`` on the mount and ``tcfs replay --serve``),
the events derived from the CLI's records among them."""

from __future__ import annotations

import time
from collections.abc import Iterable

from tcfs.protocol import keys
from tcfs.protocol.events import cli_records
from tcfs.protocol.events.batches import batch_keys, read_batch
from tcfs.protocol.events.event import Event
from tcfs.store.base import Store

#: a reader re-lists this far behind its newest key, for writers whose clocks lag
GRACE_NS = 5 * 1_000_000_000


def dedup(events: Iterable[Event]) -> list[Event]:
    """One event per id, in time order (the log is written at least once)."""
    seen: dict[str, Event] = {}
    for ev in events:
        seen.setdefault(ev.id, ev)
    return sorted(seen.values(), key=lambda e: (e.ts, e.agent, e.seq or 0, e.id))


def read_log(store: Store) -> tuple[list[Event], list[str]]:
    """Every logged event (deduplicated, in time order) and what was malformed."""
    events: list[Event] = []
    problems: list[str] = []
    for info in batch_keys(store):
        batch = read_batch(store, info.key)
        events.extend(batch.events)
        problems.extend(f"{info.key}: {p}" for p in batch.problems)
    return dedup(events), problems


def read_all(store: Store) -> tuple[list[Event], list[str]]:
    """The logged events plus those derived from the CLI's records."""
    logged, problems = read_log(store)
    covered = {c for e in logged if (c := e.covers()) is not None}
    return dedup([*logged, *cli_records.CliRecords(store).sweep(covered)]), problems


class EventTail:
    """Follows the project's events: each ``poll`` returns what is new.

    One LIST per poll, starting :data:`GRACE_NS` behind the newest batch seen
    (writers' clocks differ), and a GET per new batch; the CLI's records are
    swept every ``cli_every`` seconds.  The first poll returns the history.
    """

    def __init__(self, store: Store, *, cli_every: float = 10.0) -> None:
        self.store = store
        self.cli = cli_records.CliRecords(store, settle_s=cli_records.CLI_SETTLE_S)
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
            batch = read_batch(self.store, info.key)
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

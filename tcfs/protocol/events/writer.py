"""Where an action's event goes: ``EventSink``, written by an ``EventWriter``.

:class:`EventWriter` queues events in memory and a background thread writes
them in batches, one object per flush, so an action pays a list append and the
bucket sees far less than one request per action.  Writes are best-effort with
retries: a failed flush keeps its batch (same key, same bytes) for the next
round, so an event is written at least once and a reader deduplicates by id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from tcfs.errors import TcfsError
from tcfs.protocol import keys
from tcfs.protocol.events.batches import batch_keys, encode_batch, read_batch
from tcfs.protocol.events.event import Event, clean
from tcfs.store.base import Store

log = logging.getLogger(__name__)

#: at most this many events per batch object (a batch stays far below MAX_RECORD)
MAX_BATCH = 500
#: events waiting beyond this are dropped (oldest first) and counted: a bucket
#: that is down for long must not grow the daemon without bound
MAX_PENDING = 100_000


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
                detail={k: clean(v) for k, v in detail.items() if v is not None},
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
        mine = [e for e in read_batch(self.store, last).events if e.agent == self.agent]
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
        self._inflight = (key, encode_batch(self.agent, chained), len(chained))
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

"""Doorbells: a blocked reader polls one small object, not a listing.

A LIST costs 12.5× a GET at S3 prices, so waiting must not LIST:

* every mailbox has a bell, ``messages/<agent>/_tcfs_bell.json``, and the
  broadcasts one of their own; a send rings the recipient's bell *after* the
  message is written;
* a reader blocked in ``wait`` on a step subscribes
  (``messages/_tcfs_waiters/<step>/<agent>.json``); a final status or a
  handoff, once written, rings the bell of every subscriber.  So a mount polls
  its own bell (and the broadcasts' bell), however many steps it waits on.

Readers look at a bell with a conditional GET (``If-None-Match`` → 304) and
LIST only when it changed; senders on the ``tracecraft`` CLI ring nothing, so
readers also sweep slowly.  The subscriber looks at the step once more after
subscribing, so a completion that came first is never missed.

Rings are sent by one background thread per process, off the caller's path:
a ring never fails or delays a send.  Rings of one bell are coalesced and kept
``spacing`` apart (R2 and GCS allow about one write a second per key), and a
ring that meets throttling (429/503) is retried later with backoff, then
dropped: the sweep still delivers.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from tcfs.errors import NotFound, TcfsError, TemporaryFailure
from tcfs.protocol import keys
from tcfs.protocol.after import START_S
from tcfs.store.base import ObjectInfo, Store

log = logging.getLogger(__name__)

#: rings of one bell from one process are at least this far apart
RING_SPACING_S = 0.25
#: a throttled ring is retried after this, doubling, up to GIVE_UP_S in all
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 8.0
GIVE_UP_S = 60.0


@dataclass(order=True)
class _Job:
    due: float
    key: str  # a bell key, or a waiters prefix (ring every subscriber)
    first: float = 0.0  # when it was first due, for GIVE_UP_S
    delay: float = 0.0  # the last backoff


class Doorbells:
    """Rings bells for one agent's process; thread-safe."""

    def __init__(
        self,
        store: Store,
        agent: str,
        *,
        spacing: float = RING_SPACING_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.agent = agent
        self.spacing = spacing
        self.clock = clock
        self._cv = threading.Condition()
        self._heap: list[_Job] = []
        self._queued: set[str] = set()
        self._last: dict[str, float] = {}
        self._newest: dict[str, str] = {}  # bell key -> the message its ring names
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        # counters, for tests and benchmarks
        self.rung = 0
        self.coalesced = 0
        self.retried = 0
        self.dropped = 0

    # ----- ringing (senders) -----

    def ring(self, mailbox: str, *, newest: str | None = None) -> None:
        """Ring ``mailbox``'s bell soon (an agent id, or ``_broadcast``);
        ``newest`` is the message just written there: the bell names it, so a
        reader can fetch it with its first look (a hint, never relied on)."""
        key = keys.bell_key(mailbox)
        if newest is not None:
            with self._cv:
                self._newest[key] = newest  # a coalesced ring names the latest
        self._enqueue(key)

    def ring_waiters(self, step: str) -> None:
        """Ring the bell of every agent waiting on ``step``."""
        self._enqueue(keys.waiters_prefix(step))

    def _enqueue(self, key: str) -> None:
        with self._cv:
            if self._closed:
                return
            if key in self._queued:
                self.coalesced += 1  # the queued ring will cover this one too
                return
            now = self.clock()
            # START_S: the send's answer goes back before the ring takes the interpreter
            due = max(now + START_S, self._last.get(key, -self.spacing) + self.spacing)
            heapq.heappush(self._heap, _Job(due, key, first=due))
            self._queued.add(key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"doorbells-{self.agent}", daemon=True
                )
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (not self._heap or self._heap[0].due > self.clock()):
                    self._cv.wait(None if not self._heap else self._heap[0].due - self.clock())
                if not self._heap:
                    return  # closed and drained
                job = heapq.heappop(self._heap)
                self._queued.discard(job.key)
                self._last[job.key] = self.clock()
                self._busy += 1
            try:
                self._send(job)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

    def _send(self, job: _Job) -> None:
        newest: str | None = None
        try:
            if job.key.startswith(keys.WAITERS_ROOT):
                for agent in self._subscribers(job.key):
                    self.ring(agent)
            else:
                body = {"rung_by": self.agent, "at_ns": time.time_ns(), "id": uuid.uuid4().hex}
                with self._cv:
                    newest = self._newest.pop(job.key, None)
                if newest is not None:
                    body["newest"] = newest
                self.store.put(job.key, json.dumps(body).encode())
                self.rung += 1
        except TemporaryFailure as exc:
            if newest is not None:
                with self._cv:
                    self._newest.setdefault(job.key, newest)  # the retry names it too
            self._retry(job, exc)
        except TcfsError as exc:
            self.dropped += 1
            log.log(exc.level, "doorbell %s not rung: %s", job.key, exc)

    def _subscribers(self, prefix: str) -> list[str]:
        agents = []
        for e in self.store.list(prefix):
            if not isinstance(e, ObjectInfo):
                continue
            leaf = keys.leaf_of(e.key, prefix)
            if keys.is_data_leaf(leaf) and leaf.endswith(".json"):
                agents.append(leaf[: -len(".json")])
        return agents

    def _retry(self, job: _Job, exc: TcfsError) -> None:
        now = self.clock()
        delay = min(RETRY_MAX_S, job.delay * 2 if job.delay else RETRY_FIRST_S)
        with self._cv:
            if now + delay - job.first > GIVE_UP_S or self._closed:
                self.dropped += 1
                log.warning("doorbell %s given up after throttling: %s", job.key, exc)
                return
            self.retried += 1
            if job.key not in self._queued:
                heapq.heappush(self._heap, _Job(now + delay, job.key, job.first, delay))
                self._queued.add(job.key)
            self._cv.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every ring asked for so far was sent (or dropped)."""
        deadline = self.clock() + timeout
        with self._cv:
            while self._heap or self._busy:
                left = deadline - self.clock()
                if left <= 0:
                    return False
                self._cv.notify_all()
                self._cv.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Send what is due within ``timeout``, then stop the thread."""
        self.flush(timeout)
        with self._cv:
            self._closed = True
            self._heap.clear()
            self._queued.clear()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    # ----- subscribing (waiters) -----

    def subscribe(self, step: str) -> None:
        """Ask for this agent's bell to ring when ``step`` reaches a final status."""
        body = {"agent": self.agent, "since_ns": time.time_ns()}
        self.store.put(keys.waiter_key(step, self.agent), json.dumps(body).encode())

    def unsubscribe(self, step: str) -> None:
        try:
            self.store.delete(keys.waiter_key(step, self.agent))
        except TcfsError as exc:  # a leftover only costs the completer one extra ring
            log.log(exc.level, "unsubscribing from step %s: %s", step, exc)


class BellWatch:
    """A reader's view of bells: one conditional GET tells whether one rang."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[str, str | None] = {}  # bell key -> ETag (None: absent)
        self._newest: dict[str, str] = {}  # bell key -> the message its last ring named
        self.requests = 0

    def rang(self, mailbox: str) -> bool:
        """True when the bell changed since the last look (and on the first look)."""
        key = keys.bell_key(mailbox)
        first = key not in self._seen
        before = self._seen.get(key)
        self.requests += 1
        try:
            blob = self.store.get_if_changed(key, before)
        except NotFound:
            self._seen[key] = None
            self._newest.pop(key, None)
            return first or before is not None
        if blob is None:
            return False
        self._seen[key] = blob.etag
        newest = _named(blob.body)
        if newest is None:
            self._newest.pop(key, None)
        else:
            self._newest[key] = newest
        return True

    def known(self, mailbox: str) -> bool:
        """Whether the bell was looked at (so a change is seen as one)."""
        return keys.bell_key(mailbox) in self._seen

    def newest(self, mailbox: str) -> str | None:
        """The message the bell's last ring named, if it named one (a hint:
        any sender can write a bell, and rings of several senders overwrite)."""
        return self._newest.get(keys.bell_key(mailbox))

    def forget(self, mailbox: str) -> None:
        """The next look counts as a first look."""
        self._seen.pop(keys.bell_key(mailbox), None)
        self._newest.pop(keys.bell_key(mailbox), None)


def _named(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    newest = doc.get("newest") if isinstance(doc, dict) else None
    return newest if isinstance(newest, str) else None

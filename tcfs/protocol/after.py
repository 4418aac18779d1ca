"""Work sent after the caller has its answer, in order per subject.

Some writes an operation causes need not hold up its answer: the
``in_progress`` status after a won claim, an event-log entry, a doorbell.
``AfterAnswer.submit(subject, fn)`` queues ``fn`` and returns at once; the
calls of one subject (a step id, a mailbox, ...) run one at a time in the order
they were submitted, on a small pool of threads.  An operation whose own
writes must come after them (a status or handoff written by the same holder)
first calls ``settle(subject)``: nothing submitted before can then overtake
it.

Every call is bounded by the store's own deadlines; one that fails is logged
and the subject's queue goes on (after-the-answer work must never fail or hang
the operation that caused it).  ``close`` gives queued work a bounded time to
finish when the mount stops.

Thread-based, so the protocol layer, the filesystem (from any trio task:
``submit`` never blocks) and the mirror can all use it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all

from tcfs.errors import TcfsError

log = logging.getLogger(__name__)

#: threads sending queued work (each subject uses at most one at a time)
THREADS = 4
#: how long ``settle`` and ``close`` wait at most by default
SETTLE_S = 30.0
#: how long queued work waits before it starts: building and signing its
#: request holds the interpreter for a millisecond or two, which would
#: otherwise be taken from the thread carrying the caller's answer back
START_S = 0.003


class AfterAnswer:
    def __init__(self, *, threads: int = THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tcfs-after")
        self._lock = threading.Lock()
        self._tails: dict[str, Future[None]] = {}
        self._closed = False
        self.failed = 0  # calls that raised (logged)

    def submit(self, subject: str, fn: Callable[[], object], *, what: str = "") -> None:
        """Queue ``fn`` behind everything submitted for ``subject`` so far."""
        with self._lock:
            if self._closed:
                raise RuntimeError("AfterAnswer is closed")
            prev = self._tails.get(subject)
            fut = self._pool.submit(self._run, subject, prev, fn, what or subject)
            self._tails[subject] = fut
        fut.add_done_callback(lambda f: self._forget(subject, f))

    def _run(
        self, subject: str, prev: Future[None] | None, fn: Callable[[], object], what: str
    ) -> None:
        # prev was queued first, so it already runs on another thread or is done:
        # waiting for it never starves the pool.
        if prev is not None:
            wait_all([prev])
        else:
            time.sleep(START_S)
        try:
            fn()
        except TcfsError as exc:
            self.failed += 1
            log.log(exc.level, "after the answer, %s failed: %s", what, exc)
        except Exception:
            self.failed += 1
            log.exception("after the answer, %s failed", what)

    def _forget(self, subject: str, fut: Future[None]) -> None:
        with self._lock:
            if self._tails.get(subject) is fut:
                del self._tails[subject]

    def pending(self, subject: str) -> bool:
        with self._lock:
            return subject in self._tails

    def settle(self, subject: str, timeout: float = SETTLE_S) -> bool:
        """Block until everything submitted for ``subject`` so far has run (or
        ``timeout`` passed); whether it all ran.  Free when nothing is queued."""
        with self._lock:
            fut = self._tails.get(subject)
        if fut is None:
            return True
        done, _ = wait_all([fut], timeout=timeout)
        return bool(done)

    def settle_all(self, timeout: float = SETTLE_S) -> bool:
        """``settle`` for every subject at once."""
        with self._lock:
            futs = list(self._tails.values())
        _, left = wait_all(futs, timeout=timeout)
        return not left

    def close(self, timeout: float = SETTLE_S) -> bool:
        """Take no more work; wait up to ``timeout`` for what is queued.
        Whether it all ran (what did not is abandoned, and logged)."""
        with self._lock:
            self._closed = True
        done = self.settle_all(timeout)
        if not done:
            log.warning("stopping with after-the-answer writes still unsent")
        self._pool.shutdown(wait=False, cancel_futures=True)
        return done

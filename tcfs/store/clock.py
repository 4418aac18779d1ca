"""The store's clock as its answers show it (the HTTP ``Date`` header).

Leases are judged on the store's clock, never on this machine's (see
``tcfs.protocol.steps``); this is also where the machine's skew from the
store is measured, for ``tcfs doctor`` and the mount's warning.

A ``Date`` has one-second resolution and is stamped somewhere between sending
and receiving, so one answer places the store's offset from this machine in
an interval ``[date - received, date + 1 - sent]``; the intersection of the
recent answers' intervals narrows it to a fraction of a second.  An interval
that meets none of the others (this machine's clock was stepped) starts over.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from email.utils import parsedate_to_datetime

#: answers whose intervals are intersected
SAMPLES = 16


def parse_http_date(value: str | None) -> float | None:
    """An HTTP date (``Date``, ``Last-Modified``) as epoch seconds, or None."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


class StoreClock:
    """The offset of the store's clock from this machine's (store minus local).

    ``same_machine``: the store is this machine (the local backend): one clock,
    no skew.  Otherwise the offset is unknown until an answer carried a
    ``Date``."""

    def __init__(self, *, same_machine: bool = False) -> None:
        self.same_machine = same_machine
        self._intervals: deque[tuple[float, float]] = deque(maxlen=SAMPLES)
        self._lock = threading.Lock()

    def observe(self, date: str | None, sent: float, received: float) -> None:
        """One answer's ``Date``, sent and received at these local times."""
        stamp = parse_http_date(date)
        if stamp is None or self.same_machine:
            return
        low, high = stamp - received, stamp + 1.0 - sent
        with self._lock:
            together = self._intersection()
            if together is not None and (high < together[0] or low > together[1]):
                self._intervals.clear()  # a clock was stepped: the old answers mislead
            self._intervals.append((low, high))

    def _intersection(self) -> tuple[float, float] | None:
        if not self._intervals:
            return None
        low = max(i[0] for i in self._intervals)
        high = min(i[1] for i in self._intervals)
        if low > high:  # jitter beyond the header's resolution: trust the latest
            low, high = self._intervals[-1]
        return low, high

    @property
    def offset(self) -> float | None:
        """Seconds the store's clock is ahead of this machine's (negative:
        behind); 0 on the local backend; None before any ``Date`` was seen."""
        if self.same_machine:
            return 0.0
        with self._lock:
            bounds = self._intersection()
        return None if bounds is None else (bounds[0] + bounds[1]) / 2

    def now(self) -> float:
        """The store's time now, as well as this machine can tell (its own
        clock while the offset is unknown)."""
        return time.time() + (self.offset or 0.0)

    def describe_skew(self) -> str:
        """This machine's clock against the store's, in words."""
        if self.same_machine:
            return "local backend: the store is this machine's clock (no skew)"
        offset = self.offset
        if offset is None:
            return "the store's answers carry no Date: the skew is unknown"
        skew = -offset
        way = "ahead of" if skew >= 0 else "behind"
        return f"this machine's clock is {abs(skew):.1f} s {way} the store's (its Date header)"

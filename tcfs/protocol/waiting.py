"""What an agent's blocked readers need from the bucket, one cheap pass at a time.

A pass costs one conditional GET while nothing happens: the agent's own bell
(rung by a direct message and by the final status of a step it waits on).
The broadcasts' bell is looked at on every ``broadcast_every``-th pass.  Only
a bell that rang, a new reader, or the slow sweep (``sweep_s``; it catches
senders on the ``tracecraft`` CLI, which ring no bell) leads to the expensive
part: reading the mailbox (LISTs) or the waited steps' status.

The filesystem's poller runs a pass per tick in a worker thread; the scale
benchmark's simulated agents run the very same passes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tcfs.config import SWEEP_S
from tcfs.errors import TcfsError
from tcfs.protocol.doorbells import BellWatch, Doorbells
from tcfs.protocol.keys import BROADCAST

if TYPE_CHECKING:
    from tcfs.protocol.steps import Steps, StepStatus

log = logging.getLogger(__name__)

#: the broadcasts' bell is looked at on every n-th pass (the own bell on every one)
BROADCAST_EVERY = 5


@dataclass
class Look:
    """The outcome of one pass."""

    inbox: bool = False  # the mailbox may hold news: read it
    broadcast: bool = False  # ... and the broadcasts may too (not only the own bell rang)
    newest: str | None = None  # the message the own bell's ring named (a hint)
    statuses: dict[str, StepStatus] = field(default_factory=dict)  # steps read this pass
    due: list[str] = field(default_factory=list)  # steps to read (``read_steps=False``)
    swept: bool = False
    requests: int = 0  # requests this pass sent (the inbox reading not included)
    bells: int = 0  # of which doorbell GETs: the steady cost of waiting


class Waiting:
    def __init__(
        self,
        steps: Steps,
        bells: Doorbells,
        *,
        sweep_s: float = SWEEP_S,
        broadcast_every: int = BROADCAST_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.steps = steps
        self.bells = bells
        self.agent = bells.agent
        self.watch = BellWatch(bells.store)
        self.sweep_s = sweep_s
        self.broadcast_every = max(1, broadcast_every)
        self.clock = clock
        self._waited: dict[str, int] = {}  # step -> readers on this agent
        self._lock = threading.Lock()
        self._passes = 0
        self._swept = clock()
        self.requests = 0  # every request sent for the readers (the inbox reading not included)

    # ----- readers come and go -----

    def add_step(self, step: str) -> StepStatus | None:
        """Start waiting on ``step``.  The first reader of a step subscribes to its
        completion, then reads it once, so a completion written before the
        subscription is not missed; a later reader shares that (None: no request)."""
        with self._lock:
            first = step not in self._waited
            self._waited[step] = self._waited.get(step, 0) + 1
        if not first:
            return None
        self.requests += 3
        try:
            self.bells.subscribe(step)
        except TcfsError as exc:  # the sweep still sees the completion
            log.log(exc.level, "subscribing to step %s: %s", step, exc)
        return self.steps.status(step)

    def remove_step(self, step: str) -> None:
        with self._lock:
            left = self._waited.get(step, 0) - 1
            if left > 0:
                self._waited[step] = left
                return
            self._waited.pop(step, None)
        self.requests += 1
        self.bells.unsubscribe(step)

    @property
    def waited(self) -> list[str]:
        with self._lock:
            return sorted(self._waited)

    # ----- one pass -----

    def look(self, *, inbox: bool, fresh_reader: bool = False, read_steps: bool = True) -> Look:
        """One pass for the current readers: ``inbox`` when some block on the
        mailbox; ``fresh_reader`` when one just arrived (it gets a full look).
        ``read_steps=False`` leaves the steps to read in ``Look.due``, for a
        caller that reads them beside the mailbox (``read_step``)."""
        steps = self.waited
        out = Look()
        if not inbox and not steps:
            return out
        self._passes += 1
        now = self.clock()
        out.swept = now - self._swept >= self.sweep_s
        if out.swept:
            self._swept = now
        own = self._rang(self.agent, out)
        broadcast = False
        # A new reader lists the broadcasts anyway: it looks at their bell only
        # to learn it, so its pass costs the pacing no more than any other.
        due = self._passes % self.broadcast_every == 0
        if inbox and (due or (fresh_reader and not self.watch.known(BROADCAST))):
            broadcast = self._rang(BROADCAST, out)
        out.inbox = inbox and (own or broadcast or out.swept or fresh_reader)
        out.broadcast = out.inbox and (broadcast or out.swept or fresh_reader)
        out.newest = self.watch.newest(self.agent) if own else None
        if steps and (own or out.swept):
            out.due = steps
        if read_steps:
            for step in out.due:
                out.requests += 2
                st = self._status(step)
                if st is not None:
                    out.statuses[step] = st
            out.due = []
        self.requests += out.requests
        return out

    def read_step(self, step: str) -> StepStatus | None:
        """A waited step's status (2 requests); None when it cannot be read now."""
        with self._lock:
            self.requests += 2
        return self._status(step)

    def _status(self, step: str) -> StepStatus | None:
        try:
            return self.steps.status(step)
        except TcfsError as exc:  # bad data or a failed read: still waiting
            log.log(exc.level, "step %s: %s (still waiting)", step, exc)
            return None

    def _rang(self, mailbox: str, out: Look) -> bool:
        out.requests += 1
        out.bells += 1
        try:
            return self.watch.rang(mailbox)
        except TcfsError as exc:  # a bell we cannot read counts as rung: look
            log.log(exc.level, "doorbell of %s: %s", mailbox, exc)
            return True

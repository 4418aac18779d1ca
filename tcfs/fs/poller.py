"""One bounded poller per mount for the blocking files.

However many shells block in ``cat steps/<id>/wait`` or ``cat inbox/next``, the
mount polls the bucket from this one task, at most once per ``interval``:

* waited steps: one LIST per tick (of ``steps/<id>/`` for one waited step, of
  ``steps/`` for several) whose ETags tell which steps changed; only those get
  a ``Steps.status`` (two GETs);
* the inbox: one ``Messages.poll_marker`` per tick (a short LIST of the
  mailbox; the broadcasts too on every third tick and on a new reader's first
  look), and a ``next_unread`` only when the marker moved.

Passes that find nothing are paced by a token bucket: ``REQUESTS_PER_S`` on
average, with bursts of up to ``BURST`` requests (a new reader's first look is
one), and never closer than ``interval`` apart; so a mount with blocked readers
stays near one request a second.  A pass that delivered or resolved something
is not charged: the next reader is not made to wait for the work that served
the last.

A message consumed from the durable cursor is handed to exactly one reader;
if that reader gave up meanwhile, the message is kept for the next one, so
nothing consumed is ever dropped while the mount is up.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import trio

from tcfs.errors import CorruptObject, Interrupted, StepBlocked, TcfsError, WaitTimeout

if TYPE_CHECKING:
    from tcfs.fs.calls import Calls
    from tcfs.protocol.messages import Message, Messages
    from tcfs.protocol.steps import RecordTags, Steps

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
REQUESTS_PER_S = 1.0
#: a newly blocked reader is served this soon, not a whole interval later
FIRST_CHECK_S = 0.1
#: requests an idle mount may spend at once before the average pacing holds
BURST = 5.0
#: broadcasts are looked at on every n-th inbox pass (direct mail on every one)
BROADCAST_EVERY = 3


R = TypeVar("R")
Marker = tuple[str | None, str | None]


@dataclass
class _Waiter(Generic[R]):
    event: trio.Event = field(default_factory=trio.Event)
    result: R | None = None
    error: TcfsError | None = None
    gone: bool = False

    def resolve(self, result: R | None = None, error: TcfsError | None = None) -> None:
        self.result, self.error = result, error
        self.event.set()


class Poller:
    def __init__(
        self,
        steps: Steps,
        messages: Messages,
        calls: Calls,
        *,
        timeout: float,
        interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.steps = steps
        self.messages = messages
        self.calls = calls
        self.timeout = timeout
        self.interval = interval
        self._step_waiters: dict[str, list[_Waiter[str]]] = collections.defaultdict(list)
        self._inbox_waiters: collections.deque[_Waiter[Message]] = collections.deque()
        self._undelivered: collections.deque[Message] = collections.deque()
        self._marker: Marker | None = None
        self._etags: dict[str, RecordTags] = {}
        self._wake = trio.Event()
        self.requests = 0  # requests sent by the poller
        self.resolved = 0  # readers served (a message delivered, a wait ended)
        self.closing = False
        self._inbox_passes = 0
        self._cost = 0

    # ----- the readers' side -----

    def shutdown(self) -> None:
        """End every blocked reader now (the mount is going away), and refuse
        new ones: a reader must never keep the daemon from exiting."""
        self.closing = True
        error = Interrupted("the mount is shutting down")
        for waiters in self._step_waiters.values():
            for step_waiter in waiters:
                step_waiter.resolve(error=error)
        for inbox_waiter in self._inbox_waiters:
            inbox_waiter.resolve(error=error)
        self._wake.set()

    async def _block(self, waiter: _Waiter[R], what: str, timeout: float | None) -> R:
        if self.closing:
            raise Interrupted("the mount is shutting down")
        limit = self.timeout if timeout is None else timeout
        self._wake.set()
        with trio.move_on_after(limit):
            await waiter.event.wait()
        waiter.gone = True
        if not waiter.event.is_set():
            raise WaitTimeout(f"{what}: nothing after {limit:g}s")
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None  # resolved without an error: with a result
        return waiter.result

    async def wait_step(self, step: str, timeout: float | None = None) -> str:
        """Block until ``step`` is complete; ``StepBlocked`` if it is blocked."""
        waiter: _Waiter[str] = _Waiter()
        self._step_waiters[step].append(waiter)
        try:
            try:
                return await self._block(waiter, f"waiting for step {step}", timeout)
            except WaitTimeout:
                # One last look of our own, so even a timeout shorter than the
                # poller's pace has checked the step once (the peer's
                # `wait-for --timeout 0` gave up without looking).
                st = await self.calls.run(self.steps.status, step)
                if st.status == "complete":
                    return "complete"
                if st.status == "blocked":
                    raise StepBlocked(f"step {step} is blocked: it will not complete") from None
                raise
        finally:
            waiters = self._step_waiters.get(step)
            if waiters is not None:
                waiters[:] = [w for w in waiters if w is not waiter]
                if not waiters:
                    del self._step_waiters[step]
                    self._etags.pop(step, None)

    async def next_message(self, timeout: float | None = None) -> Message:
        """Block until a message this agent has not read arrives; consume it."""
        if self._undelivered:
            return self._undelivered.popleft()
        waiter: _Waiter[Message] = _Waiter()
        self._inbox_waiters.append(waiter)
        self._marker = None  # a new reader always gets one fresh look
        try:
            try:
                return await self._block(waiter, "waiting for a message", timeout)
            except WaitTimeout:
                msg = await self.calls.write(self.messages.next_unread)  # one last look
                if msg is not None:
                    return msg
                raise
        finally:
            if waiter in self._inbox_waiters:
                self._inbox_waiters.remove(waiter)

    @property
    def busy(self) -> bool:
        return bool(self._step_waiters or self._inbox_waiters)

    # ----- the poller's side -----

    async def run(self) -> None:
        """Poll while readers block, paced by a token bucket: ``REQUESTS_PER_S``
        on average, bursts up to ``BURST`` (a new reader's first look), passes at
        least ``interval`` apart.  Passes that served a reader are not charged."""
        last = -math.inf
        tokens = float(BURST)
        refilled = trio.current_time()
        while True:
            if not self.busy:
                self._wake = trio.Event()
                await self._wake.wait()
                await trio.sleep(FIRST_CHECK_S)  # readers arriving together share a pass
            now = trio.current_time()
            tokens = min(BURST, tokens + (now - refilled) * REQUESTS_PER_S)
            refilled = now
            due = max(last + self.interval, now + max(0.0, 1.0 - tokens) / REQUESTS_PER_S)
            if now < due:
                # A new reader may bring the next pass forward, never closer to
                # the previous one than ``interval``.
                self._wake = trio.Event()
                with trio.move_on_after(due - now):
                    await self._wake.wait()
                    await trio.sleep(max(FIRST_CHECK_S, last + self.interval - trio.current_time()))
            if not self.busy:
                continue
            last = trio.current_time()
            resolved = self.resolved
            cost = await self.poll_once()
            if self.resolved == resolved:  # found nothing: background polling
                tokens -= cost

    async def _call(self, cost: int, fn: Callable[..., R], *args: object) -> R:
        self._cost += cost
        self.requests += cost
        return await self.calls.run(fn, *args)

    async def _consume(self) -> Message | None:
        """Advance the durable cursor: a write, so never abandoned half way
        (a message consumed by an abandoned call would reach no reader)."""
        self._cost += 3
        self.requests += 3
        return await self.calls.write(self.messages.next_unread)

    async def poll_once(self) -> int:
        """One pass; returns the number of requests it sent."""
        self._cost = 0
        await self._poll_steps()
        await self._poll_inbox()
        return self._cost

    async def _poll_steps(self) -> None:
        waited = sorted(self._step_waiters)
        if not waited:
            return
        try:
            etags = await self._call(1, self.steps.record_etags, waited)
        except TcfsError as exc:
            log.log(exc.level, "polling steps: %s", exc)
            return
        for step in waited:
            if step in self._etags and self._etags[step] == etags.get(step):
                continue  # nothing about this step changed since the last look
            try:
                st = await self._call(2, self.steps.status, step)
            except CorruptObject as exc:
                log.warning("step %s: %s (still waiting)", step, exc)
                continue
            except TcfsError as exc:
                log.log(exc.level, "polling step %s: %s", step, exc)
                continue
            self._etags[step] = etags.get(step, ())
            if st.status == "complete":
                self._resolve_step(step, "complete")
            elif st.status == "blocked":
                self._resolve_step(
                    step, error=StepBlocked(f"step {step} is blocked: it will not complete")
                )

    def _resolve_step(
        self, step: str, result: str | None = None, error: TcfsError | None = None
    ) -> None:
        for w in self._step_waiters.pop(step, []):
            self.resolved += 1
            w.resolve(result, error)
        self._etags.pop(step, None)

    async def _poll_inbox(self) -> None:
        if not self._inbox_waiters:
            return
        self._inbox_passes += 1
        with_broadcast = self._marker is None or self._inbox_passes % BROADCAST_EVERY == 0
        try:
            marker = await self._call(2 if with_broadcast else 1, self._poll_marker, with_broadcast)
            if marker == self._marker:
                return
            while self._inbox_waiters:
                msg = await self._consume()
                if msg is None:
                    break
                self._deliver(msg)
            self._marker = marker
        except TcfsError as exc:
            log.log(exc.level, "polling the inbox: %s", exc)

    def _poll_marker(self, broadcast: bool) -> tuple[str | None, str | None]:
        return self.messages.poll_marker(broadcast=broadcast)

    def _deliver(self, msg: Message) -> None:
        self.resolved += 1
        while self._inbox_waiters:
            w = self._inbox_waiters.popleft()
            if not w.gone:
                w.resolve(msg)
                return
        self._undelivered.append(msg)

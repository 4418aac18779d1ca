"""One bounded poller per mount for the blocking files.

However many shells block in ``cat steps/<id>/wait`` or ``cat inbox/next``, the
mount polls the bucket from this one task, one pass at a time, and a pass is
``Waiting.look`` (protocol): one conditional GET of the agent's doorbell while
nothing happens (the broadcasts' bell on every fifth pass).  Only a bell that
rang, a new reader or the slow sweep reads the mailbox (``take_next``, starting
with the message the bell names) and the waited steps' status, together; a few
waits never LIST ``steps/``.  A reader of
``steps/<id>/wait`` subscribes to the step, so its final status rings this
agent's bell; the subscription goes when the last reader of that step does.

Passes are paced by a token bucket charged with the bells' GETs only:
``REQUESTS_PER_S`` on average, bursts of up to ``BURST``, never closer than
``interval`` apart.  The sweep and the deliveries are not charged (the sweep
has its own period), so they never delay the next pass.

A reading that listed more messages than it took leaves a backlog: a reader
arriving then is served at once, with no bell and no pacing, so a queue is
read at request speed.

A message consumed from the durable cursor is handed to exactly one reader;
if that reader gave up meanwhile, the message is kept for the next one, so
nothing consumed is ever dropped while the mount is up.  A reader's caller
(``tcfs.fs.callers``: the thread that opened the file) is looked at in
``/proc`` every ``CALLER_CHECK_S`` and right before a message is handed to
it: once it is killed or interrupted, its read ends with ``EINTR`` (the
kernel waits for that answer before the caller can die) and takes nothing.
A message another
reader holds (``inbox/unread``, see ``tcfs.protocol.holds``) is skipped
until it is acknowledged or its hold lapses; a lapse makes the next pass read
the mailbox again.

Watchers (``watch_inbox``: the waker of ``tcfs mount --wake``) are told when
the mailbox may hold news, from the same passes; they consume nothing, and
while only they watch, passes are ``WATCH_INTERVAL_S`` apart.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import trio

from tcfs.errors import CorruptObject, Interrupted, StepBlocked, TcfsError, WaitTimeout

if TYPE_CHECKING:
    from tcfs.fs.callers import Caller
    from tcfs.fs.calls import Calls
    from tcfs.protocol.messages import Message, Messages
    from tcfs.protocol.steps import Steps, StepStatus
    from tcfs.protocol.waiting import Waiting

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
#: the bells' GETs: one a pass, and the broadcasts' bell on every fifth
REQUESTS_PER_S = 1.25
#: a newly blocked reader is served this soon, not a whole interval later
FIRST_CHECK_S = 0.1
#: requests an idle mount may spend at once before the average pacing holds
BURST = 5.0
#: passes are this far apart while only watchers (no blocked reader) need them
WATCH_INTERVAL_S = 5.0
#: a blocked reader's caller is looked at this often (``/proc`` only): a
#: killed or interrupted caller is answered within this
CALLER_CHECK_S = 0.15


R = TypeVar("R")


def _interrupted(what: str) -> Interrupted:
    return Interrupted(f"{what}: the reader was killed or interrupted")


@dataclass
class _Waiter(Generic[R]):
    #: who made the read (None: unknown, never checked)
    caller: Caller | None = None
    event: trio.Event = field(default_factory=trio.Event)
    result: R | None = None
    error: TcfsError | None = None
    gone: bool = False

    def interrupted(self) -> bool:
        """Whether the caller will not take an answer (killed, interrupted)."""
        return self.caller is not None and self.caller.interrupted()

    def resolve(self, result: R | None = None, error: TcfsError | None = None) -> None:
        self.result, self.error = result, error
        self.event.set()


class Poller:
    def __init__(
        self,
        steps: Steps,
        messages: Messages,
        calls: Calls,
        waiting: Waiting,
        *,
        timeout: float,
        interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.steps = steps
        self.messages = messages
        self.calls = calls
        self.waiting = waiting
        self.timeout = timeout
        self.interval = interval
        self._step_waiters: dict[str, list[_Waiter[str]]] = collections.defaultdict(list)
        self._inbox_waiters: collections.deque[_Waiter[Message]] = collections.deque()
        self._undelivered: collections.deque[Message] = collections.deque()
        self._watchers: list[Callable[[], None]] = []
        self._fresh_inbox = False  # a new inbox reader: its first pass reads the mailbox
        self._backlog = False  # the last reading listed more than it took: serve at once
        self._broadcast_pending = False  # broadcasts may be unread: list them next reading
        self._leaving: list[str] = []  # steps whose readers left: unsubscribe
        self._wake = trio.Event()
        self._reads = 0  # requests of the inbox reading (the rest Waiting counts)
        self.resolved = 0  # readers served (a message delivered, a wait ended)
        self.closing = False

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
        """Wait for ``waiter``'s answer, looking at its caller every
        ``CALLER_CHECK_S``: a caller that was killed or interrupted ends the
        wait with ``Interrupted`` at once (it waits for our answer to die)."""
        if self.closing:
            raise Interrupted("the mount is shutting down")
        limit = self.timeout if timeout is None else timeout
        deadline = trio.current_time() + limit
        self._wake.set()
        try:
            while not waiter.event.is_set():
                left = deadline - trio.current_time()
                if left <= 0:
                    raise WaitTimeout(f"{what}: nothing after {limit:g}s")
                with trio.move_on_after(min(left, CALLER_CHECK_S)):
                    await waiter.event.wait()
                if not waiter.event.is_set() and waiter.interrupted():
                    raise _interrupted(what)
        finally:
            waiter.gone = True
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None  # resolved without an error: with a result
        return waiter.result

    async def wait_step(
        self, step: str, timeout: float | None = None, *, caller: Caller | None = None
    ) -> str:
        """Block until ``step`` is complete; ``StepBlocked`` if it is blocked.
        ``caller``: who reads, if known (see ``_block``)."""
        if self.closing:
            raise Interrupted("the mount is shutting down")
        waiter: _Waiter[str] = _Waiter(caller)
        self._step_waiters[step].append(waiter)
        try:
            # Subscribe, then look: a completion before the subscription is seen here.
            first = await self.calls.write(self.waiting.add_step, step)
            if first is not None:
                self._settle(step, first)
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
            # the poller task unsubscribes: a cancelled read cannot await here
            self._leaving.append(step)
            self._wake.set()

    async def next_message(
        self, timeout: float | None = None, *, caller: Caller | None = None
    ) -> Message:
        """Block until a message this agent has not read arrives; consume it.
        ``caller``: who reads, if known: a message is handed to
        it only while it can still take it, or else kept for the next reader."""
        waiter: _Waiter[Message] = _Waiter(caller)
        if waiter.interrupted():
            raise _interrupted("waiting for a message")
        kept = self._take_kept()
        if kept is not None:
            return kept
        self._inbox_waiters.append(waiter)
        self._fresh_inbox = True  # a new reader always gets one fresh look
        try:
            try:
                return await self._block(waiter, "waiting for a message", timeout)
            except WaitTimeout:
                if waiter.interrupted():
                    raise
                msg = await self.calls.write(self.messages.next_unread)  # one last look
                if msg is None:
                    raise
                if waiter.interrupted():  # it went while we looked: the next reader's
                    self._undelivered.append(msg)
                    raise
                return msg
        finally:
            if waiter in self._inbox_waiters:
                self._inbox_waiters.remove(waiter)

    def _take_kept(self) -> Message | None:
        """The oldest message kept for a reader that gave up that no other
        reader holds, taken off the list.  The cursor's own hold on it (it
        was consumed) is no other reader's: it does not keep it back."""
        holds = self.messages.holds
        for msg in self._undelivered:
            if holds.take([msg.name], consuming=True):
                self._undelivered.remove(msg)
                holds.delivered([msg.name])
                return msg
        return None

    def watch_inbox(self, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify()`` (on the poller's task: it must not block) whenever
        the mailbox may hold news: this agent's bell or the broadcasts' rang,
        the slow sweep came (senders on the ``tracecraft`` CLI ring no bell),
        or a hold on a message lapsed.  Returns what ends the watch."""
        self._watchers.append(notify)
        self._fresh_inbox = True  # the first pass looks at what already waits
        self._wake.set()

        def unwatch() -> None:
            if notify in self._watchers:
                self._watchers.remove(notify)

        return unwatch

    def undelivered(self) -> list[Message]:
        """Messages consumed for a reader that gave up, not yet handed to anyone."""
        return list(self._undelivered)

    def delivered(self, names: Collection[str]) -> None:
        """Another path (a hook, through ``inbox/ack``) delivered these: no
        ``inbox/next`` reader gets them again."""
        self._undelivered = collections.deque(m for m in self._undelivered if m.name not in names)

    @property
    def requests(self) -> int:
        """Requests sent for the blocked readers, by the poller and their first looks."""
        return self._reads + self.waiting.requests

    @property
    def busy(self) -> bool:
        return bool(self._step_waiters or self._inbox_waiters or self._watchers)

    def _gap(self) -> float:
        """How far apart passes are: a blocked reader wants them often."""
        if self._step_waiters or self._inbox_waiters:
            return self.interval
        return max(self.interval, WATCH_INTERVAL_S)

    # ----- the poller's side -----

    async def run(self) -> None:
        """Poll while readers block, paced by a token bucket: ``REQUESTS_PER_S``
        on average, bursts up to ``BURST`` (a new reader's first look), passes at
        least ``interval`` apart.  Only the bells' GETs are charged.  A reader
        arriving while the mailbox is known to hold more is served at once."""
        last = -math.inf
        tokens = float(BURST)
        refilled = trio.current_time()
        while True:
            await self._unsubscribe()
            if not self.busy:
                self._wake = trio.Event()
                await self._wake.wait()
                await self._unsubscribe()
                if not self._backlogged():
                    await trio.sleep(FIRST_CHECK_S)  # readers arriving together share a pass
            if self._backlogged():
                await self._drain_inbox()  # no bell to ask: the last reading listed more
                continue
            now = trio.current_time()
            tokens = min(BURST, tokens + (now - refilled) * REQUESTS_PER_S)
            refilled = now
            due = max(last + self._gap(), now + max(0.0, 1.0 - tokens) / REQUESTS_PER_S)
            if now < due:
                # A new reader may bring the next pass forward, never closer to
                # the previous one than ``interval``.
                self._wake = trio.Event()
                with trio.move_on_after(due - now):
                    await self._wake.wait()
                    if self._backlogged():
                        continue
                    await trio.sleep(max(FIRST_CHECK_S, last + self.interval - trio.current_time()))
            if not self.busy:
                continue
            last = trio.current_time()
            tokens -= await self.poll_once()

    async def _unsubscribe(self) -> None:
        while self._leaving:
            step = self._leaving.pop()
            await self.calls.write(self.waiting.remove_step, step)

    async def poll_once(self) -> int:
        """One pass; returns the bells' GETs it sent (what pacing charges).

        After the bells, the waited steps and the mailbox are read together:
        a ring of the own bell may be a message or a completion, and neither
        waits for the other's requests."""
        fresh, self._fresh_inbox = self._fresh_inbox, False
        inbox = bool(self._inbox_waiters or self._watchers)
        try:
            look = await self.calls.run(
                self.waiting.look, inbox=inbox, fresh_reader=fresh, read_steps=False
            )
        except TcfsError as exc:
            log.log(exc.level, "polling: %s", exc)
            return 1
        lapsed = self.messages.holds.lapsed()  # held messages are free again
        if look.inbox or lapsed:
            for notify in list(self._watchers):
                notify()
        async with trio.open_nursery() as nursery:
            for step in look.due:
                nursery.start_soon(self._read_step, step)
            if look.inbox or lapsed:
                # a lapsed hold may have been a broadcast's
                nursery.start_soon(self._drain_inbox, look.broadcast or lapsed, look.newest)
        return look.bells

    async def _read_step(self, step: str) -> None:
        try:
            st = await self.calls.run(self.waiting.read_step, step)
        except TcfsError as exc:  # a read past its deadline: still waiting
            log.log(exc.level, "step %s: %s (still waiting)", step, exc)
            return
        if st is not None:
            self._settle(step, st)

    def _settle(self, step: str, st: StepStatus) -> None:
        """Resolve the readers of ``step`` if its status is final for them."""
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

    async def _drain_inbox(self, news: bool = False, hint: str | None = None) -> None:
        """Hand each unread message to one reader.  Advancing the durable cursor
        is a write, never abandoned half way (a message consumed by an abandoned
        call would reach no reader).

        The broadcasts are listed only when they may hold news (``news``: their
        bell rang, the sweep came, a reader arrived, a hold lapsed), or an
        earlier reading left some unread.  A reading that listed nothing more
        ends the drain: a message sent after it rings the bell again.  One that
        listed more when the readers ran out leaves a backlog: the next reader
        is served at once, without waiting for a pass."""
        while self._inbox_waiters and (kept := self._take_kept()) is not None:
            self._deliver(kept)  # its hold lapsed
        broadcast = self._broadcast_pending = self._broadcast_pending or news
        try:
            while self._inbox_waiters:
                lists = 2 if broadcast else 1
                self._backlog = False  # unknown until the reading answers
                msg, more = await self.calls.write(
                    self.messages.take_next, broadcast=broadcast, hint=hint
                )
                hint = None
                self._reads += 1 + lists if msg is None else 3 + lists
                if msg is not None:
                    self._deliver(msg)
                self._backlog = msg is not None and more
                if not self._backlog:
                    if broadcast:
                        self._broadcast_pending = False
                    break
        except CorruptObject as exc:
            log.warning("reading the inbox: %s", exc)
        except TcfsError as exc:
            log.log(exc.level, "reading the inbox: %s", exc)

    def _backlogged(self) -> bool:
        """A reader waits and the mailbox is known to hold more for it."""
        return self._backlog and bool(self._inbox_waiters)

    def _deliver(self, msg: Message) -> None:
        """Hand ``msg`` to the oldest reader that can still take it; a reader
        whose caller was killed or interrupted is ended (it consumes nothing),
        and a message nobody can take is kept for the next reader."""
        self.resolved += 1
        while self._inbox_waiters:
            w = self._inbox_waiters.popleft()
            if w.gone:
                continue
            if w.interrupted():
                w.resolve(error=_interrupted("waiting for a message"))
                continue
            w.resolve(msg)
            return
        self._undelivered.append(msg)

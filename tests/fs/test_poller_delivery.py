"""The poller's delivery, pass by pass, against a real local store: after a
rung bell the waited steps and the mailbox are read together, the
broadcasts are listed only when they may hold news, and a reading that
listed nothing more ends the drain.  Each pass is driven by hand
(``poll_once``), so nothing depends on timing."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import trio.testing

from tcfs.errors import Interrupted
from tcfs.fs.callers import Caller
from tcfs.fs.calls import Calls
from tcfs.fs.poller import Poller
from tcfs.protocol import Project, keys
from tcfs.protocol.messages import BROADCAST_PREFIX, Message
from tcfs.store.local import LocalStore


class ListingStore(LocalStore):
    """Records the prefix of every LIST."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listed: list[str] = []
        self._lock = threading.Lock()

    def list(self, prefix: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.listed.append(prefix)
        return super().list(prefix, *args, **kwargs)

    def take(self) -> list[str]:
        with self._lock:
            out, self.listed = self.listed, []
        return out


def _setup(tmp_path: Path) -> tuple[ListingStore, Project, Project, Poller]:
    store = ListingStore(tmp_path / "bucket", "proj")
    alice, bob = Project(store, "alice"), Project(store, "bob")
    poller = Poller(
        alice.steps, alice.messages, Calls(timeout=60), alice.waiting, timeout=60, interval=1.0
    )
    return store, alice, bob, poller


async def _readers(nursery: trio.Nursery, poller: Poller, n: int, got: list[Message]) -> None:
    async def one() -> None:
        got.append(await poller.next_message())

    for _ in range(n):
        nursery.start_soon(one)
    await trio.testing.wait_all_tasks_blocked()
    poller._fresh_inbox = False  # these passes are about bells, not new readers


def _run(
    main: Callable[[], Awaitable[None]], *projects: Project, clock: trio.abc.Clock | None = None
) -> None:
    try:
        trio.run(main, clock=clock)
    finally:
        for p in projects:
            p.close()


async def _pass(poller: Poller) -> None:
    """One pass, and the readers it served have their answer."""
    await poller.poll_once()
    await trio.testing.wait_all_tasks_blocked()


def test_a_direct_ring_reads_the_mailbox_only(tmp_path: Path) -> None:
    store, alice, bob, poller = _setup(tmp_path)
    got: list[Message] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await _readers(nursery, poller, 2, got)
            await poller.poll_once()  # the first look learns both bells
            store.take()
            bob.messages.send("alice", "just you")
            assert bob.bells.flush()
            await _pass(poller)
            assert [m.text for m in got] == ["just you"]
            listed = store.take()
            assert listed == [alice.messages.direct_prefix]  # one reading: it listed no more
            nursery.cancel_scope.cancel()

    _run(main, bob)


def test_broadcasts_left_unread_are_listed_by_the_next_reading(tmp_path: Path) -> None:
    store, alice, bob, poller = _setup(tmp_path)
    got: list[Message] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await _readers(nursery, poller, 1, got)
            await poller.poll_once()
            bob.messages.send(keys.BROADCAST, "first, to all")
            bob.messages.send(keys.BROADCAST, "second, to all")
            assert bob.bells.flush()
            for _ in range(alice.waiting.broadcast_every):  # the broadcasts' bell's turn
                await _pass(poller)
            assert [m.text for m in got] == ["first, to all"]  # one reader, two broadcasts
            await _readers(nursery, poller, 1, got)
            store.take()
            bob.messages.send("alice", "just you")
            assert bob.bells.flush()
            await _pass(poller)  # only the own bell rang, but a broadcast is unread
            assert [m.text for m in got][1:] == ["second, to all"]  # oldest first
            assert BROADCAST_PREFIX in store.take()
            await _readers(nursery, poller, 1, got)
            await _pass(poller)  # no bell rang: the pass reads nothing
            assert [m.text for m in got][2:] == [] and not store.take()
            poller._fresh_inbox = True  # what a new reader sets: it gets a full look
            await _pass(poller)
            assert [m.text for m in got][2:] == ["just you"]
            nursery.cancel_scope.cancel()

    _run(main, bob)


def test_one_ring_serves_a_message_and_a_completion_in_one_pass(tmp_path: Path) -> None:
    store, _alice, bob, poller = _setup(tmp_path)
    got: list[Message] = []
    done: list[str] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def waiter() -> None:
                done.append(await poller.wait_step("build"))

            nursery.start_soon(waiter)
            with trio.fail_after(30):
                while not store.exists(keys.waiter_key("build", "alice")):
                    await trio.sleep(0.01)
            await _readers(nursery, poller, 1, got)
            await poller.poll_once()
            bob.steps.claim("build")
            bob.steps.handoff("build", note="done")
            bob.messages.send("alice", "built it")
            assert bob.bells.flush()
            await _pass(poller)
            assert done == ["complete"]
            assert [m.text for m in got] == ["built it"]
            nursery.cancel_scope.cancel()

    _run(main, bob)


def test_a_reader_whose_caller_was_killed_is_handed_nothing(tmp_path: Path) -> None:
    """The caller dies between two passes (time stands still: only the
    delivery itself can notice): the message is kept for the next reader."""
    _store, _alice, bob, poller = _setup(tmp_path)
    got: list[Message] = []
    ended: list[Interrupted] = []
    caller = subprocess.Popen(["sleep", "60"])

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def killed_reader() -> None:
                try:
                    got.append(await poller.next_message(caller=Caller.of(caller.pid)))
                except Interrupted as exc:
                    ended.append(exc)

            nursery.start_soon(killed_reader)
            await trio.testing.wait_all_tasks_blocked()
            await poller.poll_once()  # its first look: nothing yet
            bob.messages.send("alice", "for the next reader")
            assert bob.bells.flush()
            caller.kill()
            caller.wait(timeout=10)
            await _pass(poller)
            assert got == [] and len(ended) == 1
            assert [m.text for m in poller.undelivered()] == ["for the next reader"]
            await _readers(nursery, poller, 1, got)  # served at once, from what was kept
            assert [m.text for m in got] == ["for the next reader"]
            assert poller.undelivered() == []
            nursery.cancel_scope.cancel()

    try:
        _run(main, bob, clock=trio.testing.MockClock())
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait(timeout=10)

"""Memory sets that amend one history entry, appends by compare-and-swap, and
sets that fail without leaving a history entry (local stores on disk)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tcfs.errors import Contention, NoSpace
from tcfs.protocol import keys
from tcfs.protocol.memory import UPDATE_ATTEMPTS, Memory, MemoryValue
from tcfs.store.base import ObjectInfo, Store
from tcfs.store.local import LocalStore


def entries(store: Store, *parts: str) -> list[str]:
    prefix = keys.memory_history_prefix(parts)
    return [e.key for e in store.list(prefix) if isinstance(e, ObjectInfo)]


def add_line(line: str):  # type: ignore[no-untyped-def]
    def change(now: MemoryValue | None) -> str:
        return (now.value + "\n" if now is not None else "") + line

    return change


def test_a_set_given_its_entry_amends_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, "proj")
    memory = Memory(store, "alice")
    first = memory.set("a.b", "one")
    again = memory.set("a.b", "one two", entry=first.entry)
    assert entries(store, "a", "b") == [first.entry] == [again.entry]
    assert memory.history("a.b") == [
        {"key": "a.b", "value": "one two", "set_by": "alice", "set_at": again.set_at}
    ]
    assert memory.get("a.b").value == "one two"


def test_updates_from_two_writers_at_once_are_all_kept(tmp_path: Path) -> None:
    writers = [Memory(LocalStore(tmp_path, "proj"), agent) for agent in ("alice", "bob")]

    def append(memory: Memory) -> None:
        for i in range(150):
            memory.update("log.k", add_line(f"{memory.agent}-{i}"))

    threads = [threading.Thread(target=append, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    lines = writers[0].get("log.k").value.split("\n")
    assert sorted(lines) == sorted(f"{w.agent}-{i}" for w in writers for i in range(150))
    assert len(entries(writers[0].store, "log", "k")) == 300


class Rival(LocalStore):
    """A store on which another agent sets the value between every read of it
    and the put that follows."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "proj")
        self.other = Memory(LocalStore(root, "proj"), "bob")

    def get(self, key: str, *, byte_range: tuple[int, int] | None = None):  # type: ignore[no-untyped-def]
        blob = super().get(key, byte_range=byte_range)
        if key == keys.memory_key(["hot", "k"]):
            self.other.set("hot.k", "bob was here")
        return blob


def test_an_update_that_keeps_losing_is_contention_and_leaves_no_entry(tmp_path: Path) -> None:
    store = Rival(tmp_path)
    store.other.set("hot.k", "start")
    with pytest.raises(Contention):
        Memory(store, "alice").update("hot.k", add_line("mine"))
    assert store.other.get("hot.k").value == "bob was here"
    left = [e for e in entries(store, "hot", "k") if "_alice_" in e]
    assert left == []
    assert len(entries(store, "hot", "k")) == 1 + UPDATE_ATTEMPTS  # bob's sets only


class FullForValues(LocalStore):
    """A disk that takes the history entry but is full for the value."""

    def put(self, key: str, body: bytes, **kw):  # type: ignore[no-untyped-def]
        if key.startswith(keys.MEMORY_ROOT) and not key.startswith(keys.HISTORY_ROOT):
            raise NoSpace(f"cannot write {key}: No space left on device")
        return super().put(key, body, **kw)


def test_a_set_that_fails_leaves_no_history_entry(tmp_path: Path) -> None:
    store = FullForValues(tmp_path, "proj")
    memory = Memory(store, "alice")
    with pytest.raises(NoSpace) as failed:
        memory.set("a.b", "v")
    assert failed.value.errno == 28  # ENOSPC
    with pytest.raises(NoSpace):
        memory.update("a.c", add_line("v"))
    assert entries(store, "a", "b") == [] and entries(store, "a", "c") == []

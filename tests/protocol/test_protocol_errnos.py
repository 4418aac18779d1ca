"""Errnos are decided by what happened: contention that outlasts the
compare-and-swap retries is EAGAIN (in steps and messages alike), a value
that is not a name is EINVAL without being an ``InvalidName``."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tcfs.errors import Contention, InvalidArgument, InvalidName
from tcfs.protocol import Project, keys
from tcfs.store.local import LocalStore


class RivalStore(LocalStore):
    """A real local bucket where another writer changes ``target`` right
    before each of our conditional writes to it, so every one of them loses."""

    def __init__(self, root: Path, target: str) -> None:
        super().__init__(root, "proj")
        self.target = target
        self.rival_writes = 0

    def put(
        self, key: str, body: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        if key == self.target and (if_none_match or if_match):
            self.rival_writes += 1
            super().put(key, b'{"rival": %d}' % self.rival_writes)
        return super().put(key, body, if_none_match=if_none_match, if_match=if_match)


def test_status_contention_is_eagain_not_eperm(tmp_path: Path) -> None:
    store = RivalStore(tmp_path, keys.status_key("s1"))
    alice = Project(store, "alice")
    alice.steps.claim("s1")
    with pytest.raises(Contention) as exc:
        alice.steps.set_status("s1", "complete")
    assert exc.value.errno == errno.EAGAIN
    assert store.rival_writes > 2  # it did retry before giving up


def test_cursor_and_hidden_list_contention_is_eagain(tmp_path: Path) -> None:
    bob = Project(LocalStore(tmp_path, "proj"), "bob")
    bob.messages.send("_broadcast", "hello")
    for target, act in (
        (keys.hidden_key("alice"), lambda p: p.messages.remove(p.messages.inbox()[0])),
        (keys.cursor_key("alice"), lambda p: p.messages.next_unread()),
    ):
        alice = Project(RivalStore(tmp_path, target), "alice")
        with pytest.raises(Contention) as exc:
            act(alice)
        assert exc.value.errno == errno.EAGAIN


def test_bad_values_are_einval_but_not_names(tmp_path: Path) -> None:
    alice = Project(LocalStore(tmp_path, "proj"), "alice")
    with pytest.raises(InvalidArgument) as exc:
        alice.memory.set(("a", "b"), 3)  # type: ignore[arg-type]
    assert exc.value.errno == errno.EINVAL and not isinstance(exc.value, InvalidName)
    with pytest.raises(InvalidArgument) as exc:
        keys.part_key("codex", "s", 100_000)
    assert exc.value.errno == errno.EINVAL and not isinstance(exc.value, InvalidName)

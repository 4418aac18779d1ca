"""The request costs ``docs/semantics.md`` states ("Freshness and cost"), measured.

Each case drives the filesystem core the way the kernel does for one shell
command with the parent directories already cached (their entries live 1 s):
a lookup of the last name, then open / read / write / release or unlink.  The
store counts the requests it serves, so a change that adds a request to a hot
path fails here and that table must be updated with it.  Requests sent
after the command has its answer (the mount's ``AfterAnswer`` queue) are
counted apart: the command does not wait for them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from tcfs.fs.core import FsCore
from tcfs.fs.inodes import ROOT_INODE
from tcfs.protocol import AfterAnswer, Project
from tests.fs.counting import CountingStore

_CACHED: dict[tuple[int, str], int] = {}


async def _walk(core: FsCore, parts: list[str]) -> int:
    """Look up directories as the kernel does: once, then from its cache."""
    ino = ROOT_INODE
    for i in range(len(parts)):
        key = (id(core), "/".join(parts[: i + 1]))
        if key not in _CACHED:
            _CACHED[key] = (await core.lookup(ino, parts[i])).ino
        ino = _CACHED[key]
    return ino


async def _parent(core: FsCore, path: str) -> int:
    return await _walk(core, path.split("/")[:-1])


async def cat(core: FsCore, path: str) -> bytes:
    parent = await _parent(core, path)
    ino = (await core.lookup(parent, path.rsplit("/", 1)[-1])).ino
    fh = (await core.open(ino, os.O_RDONLY)).fh
    data = await core.read(fh, 0, 1 << 20)
    await core.release(fh)
    return data


async def cat_again(core: FsCore, path: str) -> bytes:
    """`cat path` while the kernel still holds the entry: open, then the
    ``getattr`` the kernel sends after that open, then the read."""
    ino = await _walk(core, path.split("/"))
    fh = (await core.open(ino, os.O_RDONLY)).fh
    size = (await core.getattr(ino)).size
    data = await core.read(fh, 0, 1 << 20)
    await core.release(fh)
    assert size == len(data)
    return data


async def echo(core: FsCore, path: str, text: bytes) -> None:
    """`echo text > path` on a name that does not exist yet: lookup misses, create."""
    from tcfs.errors import NotFound

    parent = await _parent(core, path)
    name = path.rsplit("/", 1)[-1]
    try:
        await core.lookup(parent, name)
    except NotFound:
        pass
    opened, _ = await core.create(parent, name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    await core.write(opened.fh, 0, text)
    await core.flush(opened.fh)
    await core.release(opened.fh)


async def write(core: FsCore, path: str, text: bytes) -> None:
    """`echo text > path` on a file that exists (lookup, open with O_TRUNC)."""
    parent = await _parent(core, path)
    ino = (await core.lookup(parent, path.rsplit("/", 1)[-1])).ino
    fh = (await core.open(ino, os.O_WRONLY | os.O_TRUNC)).fh
    await core.write(fh, 0, text)
    await core.flush(fh)
    await core.release(fh)


async def rm(core: FsCore, path: str) -> None:
    parent = await _parent(core, path)
    name = path.rsplit("/", 1)[-1]
    await core.lookup(parent, name)
    await core.unlink(parent, name)


async def ls(core: FsCore, path: str) -> list[str]:
    ino = await _walk(core, path.split("/"))
    fh = await core.opendir(ino)
    entries = await core.listdir(fh, 0)
    await core.releasedir(fh)
    return [e.node.path[-1] for e in entries]


def measure(tmp_path: Path, setup, action) -> tuple[dict[str, int], dict[str, int]]:  # type: ignore[no-untyped-def]
    """(requests the command waited for, requests sent after its answer)."""
    store = CountingStore(tmp_path / "bucket", "proj")
    after = AfterAnswer()
    core = FsCore(Project(store, "alice", after=after), wait_timeout=5, readme=b"")
    other = FsCore(Project(store, "bob", after=after), wait_timeout=5, readme=b"")

    async def main() -> tuple[dict[str, int], dict[str, int]]:
        _CACHED.clear()
        await setup(core, other)
        await action(core, "warm")  # parent directories' lookups, as the kernel caches them
        assert after.settle_all(timeout=30)
        assert core.p.bells.flush() and other.p.bells.flush()
        store.clear()
        await action(core, "measured")
        answered = store.counts - store.after
        # doorbells ring in their own thread once the write they announce landed
        assert after.settle_all(timeout=30) and core.p.bells.flush()
        return dict(answered), dict(store.after)

    # On a clock that stands still: a lookup's content serves the open of the
    # same request because they are one pair, never because they came quickly.
    try:
        return trio.run(main, clock=MockClock())
    finally:
        after.close(timeout=30)


async def nothing(core: FsCore, other: FsCore) -> None:
    pass


async def claim_both(other: FsCore) -> None:
    """Claim steps s-warm and s-measured as ``other``."""
    for r in ("warm", "measured"):
        await echo(other, f"steps/s-{r}/claim", b"me\n")


# (name, setup, action(core, round), requests waited for, requests sent after the answer)
CASES = [
    (
        "cat memory/a/b",
        lambda c, o: echo(o, "memory/a/b", b"v\n"),
        lambda c, r: cat(c, "memory/a/b"),
        # the value found answers; on S3 a LIST of the keys below goes with the
        # GET and is not waited for (tests/protocol/test_memory_lookup.py)
        {"GET": 1},
        {},
    ),
    (
        "cat memory/a/b (entry cached)",
        lambda c, o: echo(o, "memory/a/b", b"v\n"),
        lambda c, r: cat_again(c, "memory/a/b"),
        {"GET": 1},  # the open's read answers the getattr after it
        {},
    ),
    (
        "echo v > memory/a/b",
        nothing,
        lambda c, r: echo(c, f"memory/a/{r}", b"v\n"),
        {"GET": 1, "LIST": 1, "PUT": 2},  # lookup: GET + LIST together; history + value together
        {},
    ),
    (
        "echo me > steps/<id>/claim (wins)",
        nothing,
        lambda c, r: echo(c, f"steps/s-{r}/claim", b"me\n"),
        # the lookup; then the claim, with the status and handoff read beside it
        # (whether the step is complete, and any newer epoch they carry)
        {"GET": 3, "PUT": 1},
        {"PUT": 1},  # the in_progress status
    ),
    (
        "echo me > steps/<id>/claim (loses)",
        lambda c, o: claim_both(o),
        lambda c, r: _expect_eexist(write(c, f"steps/s-{r}/claim", b"me\n")),
        {"GET": 1},  # the lookup's claim decides: no PUT that could only fail
        {},
    ),
    (
        "cat steps/<id>/claim",
        lambda c, o: echo(o, "steps/s1/claim", b"me\n"),
        lambda c, r: cat(c, "steps/s1/claim"),
        {"GET": 1},
        {},
    ),
    (
        "echo complete > steps/<id>/status (holder)",
        lambda c, o: claim_both(c),
        lambda c, r: write(c, f"steps/s-{r}/status", b"complete\n"),
        {"PUT": 1},  # its own lease and the status it wrote: nothing to read
        {"LIST": 1},  # the step's waiters, to ring their bells (none here)
    ),
    (
        "echo done > steps/<id>/handoff (holder)",
        lambda c, o: claim_both(c),
        lambda c, r: echo(c, f"steps/s-{r}/handoff", b"done\n"),
        {"GET": 1, "PUT": 2},  # lookup; then the status and the handoff together
        {"LIST": 1},  # the step's waiters, to ring their bells (none here)
    ),
    (
        "cat steps/<id>/status",
        lambda c, o: echo(o, "steps/s1/claim", b"me\n"),
        lambda c, r: cat(c, "steps/s1/status"),
        {"GET": 2},  # claim and status together
        {},
    ),
    (
        "echo hi > outbox/<agent>",
        nothing,
        lambda c, r: echo(c, "outbox/bob", b"hi\n"),
        {"PUT": 1},
        {"PUT": 1},  # bob's doorbell, once the message is written
    ),
    (
        "ls inbox",
        lambda c, o: echo(o, "outbox/alice", b"hi\n"),
        lambda c, r: ls(c, "inbox"),
        {"GET": 1, "LIST": 2},
        {},
    ),
    (
        "ls memory/a",
        lambda c, o: echo(o, "memory/a/b", b"v\n"),
        lambda c, r: ls(c, "memory/a"),
        {"LIST": 1},
        {},
    ),
    (
        "ls reservations",
        lambda c, o: echo(o, "reservations/api", b"src/api/**\n"),
        lambda c, r: ls(c, "reservations"),
        {"GET": 1},  # the index
        {},
    ),
    (
        "cat reservations/check",
        lambda c, o: echo(o, "reservations/api", b"src/api/**\n"),
        lambda c, r: cat(c, "reservations/check"),
        {"GET": 1},
        {},
    ),
    (
        "echo GLOB > reservations/<name>",
        nothing,
        lambda c, r: echo(c, f"reservations/{r}", f"src/{r}/**\n".encode()),
        {"GET": 2, "PUT": 1},  # lookup; then the index's read and compare-and-swap
        {},
    ),
]


async def _expect_eexist(coro) -> None:  # type: ignore[no-untyped-def]
    import errno

    from tcfs.errors import TcfsError

    try:
        await coro
    except TcfsError as exc:
        assert exc.errno == errno.EEXIST
    else:
        raise AssertionError("the claim should have been refused")


@pytest.mark.parametrize(
    ("name", "setup", "action", "expected", "after"), CASES, ids=[c[0] for c in CASES]
)
def test_request_costs(tmp_path: Path, name: str, setup, action, expected, after) -> None:  # type: ignore[no-untyped-def]
    assert measure(tmp_path, setup, action) == (expected, after)


def test_a_name_under_memory_is_looked_up_without_a_request_in_front(tmp_path: Path) -> None:
    """The kernel looks ``memory/<a>`` up before every path below it: the mount
    answers from what its start-up listing (or a check) found, and a verdict
    older than 30 s is checked again behind the answer, not in front of it."""
    import stat as stat_

    from tcfs.fs.namespaces import RECHECK_S

    store = CountingStore(tmp_path / "bucket", "proj")
    store.put("memory/solo.json", b'{"value": "one part", "set_by": "cli"}')
    core = FsCore(Project(store, "alice"), wait_timeout=5, readme=b"")
    clock = MockClock()

    async def is_dir(name: str) -> bool:
        return stat_.S_ISDIR((await core.lookup(memory, name)).mode)

    async def until(cond) -> None:  # type: ignore[no-untyped-def]
        for _ in range(1000):  # the check runs in a thread: real time, bounded
            if await cond():
                return
            await trio.to_thread.run_sync(time.sleep, 0.01)
        raise AssertionError("the background check never came")

    async def asked() -> bool:
        return bool(store.counts)

    async def a_is_a_file() -> bool:
        return not await is_dir("a")

    async def main() -> None:
        nonlocal memory
        core.start()
        memory = (await core.lookup(ROOT_INODE, "memory")).ino
        assert not await is_dir("solo")  # listed at start: a one-part key, read
        store.clear()
        assert await is_dir("a")  # a namespace, from the listing
        assert store.counts == {}
        clock.jump(RECHECK_S + 1)
        store.put("memory/a.json", b'{"value": "made by the CLI", "set_by": "cli"}')
        store.clear()
        assert await is_dir("a")  # answered from the verdict it had ...
        assert store.counts == {}
        await until(asked)
        assert store.counts == {"GET": 1}  # ... checked behind the answer
        await until(a_is_a_file)  # the looks after the check see the key
        assert store.counts == {"GET": 2}  # that look read the value

    memory = 0
    trio.run(main, clock=clock)


def test_a_getattr_after_a_write_here_asks_again(tmp_path: Path) -> None:
    """What a read open fetched answers the ``getattr`` right after it, but
    never once this mount wrote the file: the size then comes from the bucket."""
    store = CountingStore(tmp_path / "bucket", "proj")
    core = FsCore(Project(store, "alice"), wait_timeout=5, readme=b"")

    async def main() -> None:
        await echo(core, "memory/a/b", b"v\n")
        ino = await _walk(core, ["memory", "a", "b"])
        fh = (await core.open(ino, os.O_RDONLY)).fh
        assert await core.read(fh, 0, 100) == b"v\n"
        await core.release(fh)
        store.clear()
        assert (await core.getattr(ino)).size == 2
        assert not store.counts  # answered by the open
        await write(core, "memory/a/b", b"a longer value\n")
        store.clear()
        assert (await core.getattr(ino)).size == len(b"a longer value\n")
        assert store.counts["GET"] == 1

    _CACHED.clear()
    trio.run(main, clock=MockClock())

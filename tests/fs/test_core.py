"""The filesystem core without a mount: path resolution, lookup counts,
readdir offsets, handles — against a real local store."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from tcfs.errors import InvalidName, NotFound, TcfsError
from tcfs.fs import tree
from tcfs.fs.calls import Calls
from tcfs.fs.core import FsCore
from tcfs.fs.inodes import ROOT_INODE, InodeTable
from tcfs.fs.kinds import agents, artifacts, inbox, memory, outbox, root, scratch, sessions, steps
from tcfs.fs.nodes import Node
from tcfs.fs.poller import REQUESTS_PER_S
from tcfs.protocol import Project
from tcfs.store.local import LocalStore
from tests.fs.counting import CountingStore


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ((), root.Root),
        (("README",), root.Readme),
        (("agents", "bob.json"), agents.AgentFile),
        (("steps", "new-step"), steps.StepDir),
        (("steps", "s1", "claim"), steps.Claim),
        (("steps", "s1", "wait"), steps.Wait),
        (("memory", "a"), memory.MemoryEntry),
        (("memory", "a", "b", "c"), memory.MemoryEntry),
        (("inbox", "next"), inbox.InboxNext),
        (("inbox", "1_bob_0123abcd"), inbox.InboxMessage),
        (("outbox", "_broadcast"), outbox.OutboxMessage),
        (("artifacts", "shared", "x.tar.gz"), artifacts.ArtifactEntry),
        (("artifacts", "shared", "my dir", "résumé.pdf"), artifacts.ArtifactEntry),
        (("artifacts", "shared", ".hidden"), artifacts.ArtifactEntry),
        (("memory", "design", "sedAb12Cd"), scratch.Scratch),
        (("memory", "design", ".db.swp"), scratch.Scratch),
        (("artifacts", "shared", ".report.txt.Ab12Cd"), scratch.Scratch),
        (("artifacts", "s1"), artifacts.Scope),
        (("sessions", "claude", "abc-1.jsonl"), sessions.Session),
    ],
)
def test_classify_kinds(path: tuple[str, ...], kind: type[Node]) -> None:
    node = tree.classify(path)
    assert type(node) is kind and node.path == path


@pytest.mark.parametrize(
    "path",
    [
        ("steps", "BAD.ID"),
        ("steps", "Upper"),
        ("steps", "_x", "claim"),
        ("memory", "a.b"),
        ("memory", "_history"),
        ("memory", ".."),
        ("memory", "k" * 200),
        ("outbox", "bad name"),
        ("artifacts", "Not.A.Step"),
        ("inbox", "_cursor"),
        ("steps", "BAD.ID", "other"),
        ("memory", *["k"] * 17),
        ("artifacts", "shared", "a\nb"),
        ("artifacts", "shared", ".tcfs-tmp-x"),
    ],
)
def test_classify_rejects_bad_names(path: tuple[str, ...]) -> None:
    with pytest.raises(InvalidName) as exc:
        tree.classify(path)
    assert exc.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    "path",
    [
        ("nope",),
        ("README", "x"),
        ("steps", "s1", "other"),
        ("steps", "s1", "sedAb12Cd"),
        ("agents", "bob"),
        ("inbox", "a", "b"),
    ],
)
def test_classify_unknown_paths(path: tuple[str, ...]) -> None:
    with pytest.raises(NotFound):
        tree.classify(path)


def test_every_kind_in_the_table_is_reachable() -> None:
    """The table is the only place a kind is named: each row classifies to its class."""
    samples = {"<agent>.json": "bob.json", "<step>": "s1", "<part>...": "a", "<message>": "m"}
    samples |= {"<recipient>": "bob", "<scope>": "shared", "<artifact>": "f.txt"}
    samples |= {"<harness>": "codex", "<session>.jsonl": "x.jsonl", "<guest>": ".git"}
    samples |= {"<inner>...": "hooks"}
    samples |= {"<reservation>": "api"}
    for pattern, kind in tree.TABLE:
        path = tuple(samples.get(seg, seg) for seg in pattern.split("/")) if pattern else ()
        assert type(tree.classify(path)) is kind, pattern


def test_root_lists_the_tables_top_level_names(tmp_path: Path) -> None:
    async def main() -> list[str]:
        fh = await core.opendir(ROOT_INODE)
        names = [s.node.name for s in await core.listdir(fh, 0)]
        await core.releasedir(fh)
        return names

    core = FsCore(Project(LocalStore(tmp_path / "bucket", "proj"), "alice"), readme=b"")
    listed = trio.run(main)
    assert listed == [
        "README",
        "events",
        "agents",
        "steps",
        "memory",
        "inbox",
        "outbox",
        "artifacts",
        "reservations",
        "sessions",
    ]


def test_inode_lookup_counts() -> None:
    table = InodeTable()
    node = root.Readme(("README",))
    a = table.ref(node)
    assert table.ref(node).ino == a.ino and a.lookups == 2
    table.opened(a.ino)
    table.forget(a.ino, 2)
    assert table.get(a.ino) is not None  # still open
    table.closed(a.ino)
    assert table.get(a.ino) is None  # forgotten and closed: dropped
    b = table.ref(node)
    assert b.ino != a.ino  # numbers are never reused
    table.forget(ROOT_INODE, 100)
    assert table.get(ROOT_INODE) is not None
    # a path whose kind changed gets a new inode
    v = table.ref(memory.MemoryValue(("memory", "k")))
    d = table.ref(memory.MemoryDir(("memory", "k")))
    assert v.ino != d.ino and table.find(("memory", "k")) is d


def _core(tmp_path: Path, agent: str = "alice") -> FsCore:
    store = LocalStore(tmp_path / "bucket", "proj")
    return FsCore(
        Project(store, agent, lease_ttl=30),
        wait_timeout=1,
        spool_dir=str(tmp_path),
        readme=b"hello\n",
        calls=Calls(timeout=3600),  # real threads under a clock that may run fast
    )


def test_lookup_create_and_read_through_core(tmp_path: Path) -> None:
    async def main() -> None:
        core = _core(tmp_path)
        steps = await core.lookup(ROOT_INODE, "steps")
        step = await core.lookup(steps.ino, "s1")
        with pytest.raises(NotFound):
            await core.lookup(step.ino, "claim")
        opened, attr = await core.create(step.ino, "claim", os.O_WRONLY)
        assert await core.write(opened.fh, 0, b"me\n") == 3
        await core.flush(opened.fh)
        await core.release(opened.fh)
        assert core.inodes.get(attr.ino).lookups == 1
        fh = (await core.open(attr.ino, os.O_RDONLY)).fh
        assert b"agent: alice" in await core.read(fh, 0, 4096)
        await core.release(fh)
        with pytest.raises(InvalidName):
            await core.lookup(steps.ino, "Bad.Id")
        readme = await core.lookup(ROOT_INODE, "README")
        with pytest.raises(TcfsError) as exc:
            await core.open(readme.ino, os.O_WRONLY)
        assert exc.value.errno == errno.EACCES

    trio.run(main)


def test_how_long_the_kernel_may_keep_each_kind(tmp_path: Path) -> None:
    """Directories that exist by their path alone are kept an hour (attributes
    too); memory's directories 1 s, as a value may take their name; a file 0.1 s."""
    from tcfs.fs.context import FILE_TTL_S
    from tcfs.fs.core import DIR_TTL_S, LASTING_TTL_S

    async def main() -> None:
        core = _core(tmp_path)
        steps_ = await core.lookup(ROOT_INODE, "steps")
        step = await core.lookup(steps_.ino, "s1")
        mem = await core.lookup(ROOT_INODE, "memory")
        ns = await core.lookup(mem.ino, "ns")
        status = await core.lookup(step.ino, "status")
        readme = await core.lookup(ROOT_INODE, "README")
        root_attr = await core.getattr(ROOT_INODE)
        for a in (steps_, step, mem, root_attr):
            assert (a.entry_timeout, a.attr_timeout) == (LASTING_TTL_S, LASTING_TTL_S)
        assert (ns.entry_timeout, ns.attr_timeout) == (DIR_TTL_S, DIR_TTL_S)
        for a in (readme, status):
            assert (a.entry_timeout, a.attr_timeout) == (FILE_TTL_S, FILE_TTL_S)

    trio.run(main)


def test_readdir_offsets_are_stable_while_entries_change(tmp_path: Path) -> None:
    async def main() -> None:
        core = _core(tmp_path)
        for i in range(5):
            core.p.memory.set(("k", f"v{i}"), "x")
        mem = await core.lookup(ROOT_INODE, "memory")
        k = await core.lookup(mem.ino, "k")
        fh = await core.opendir(k.ino)
        first = await core.listdir(fh, 0)
        assert [s.node.name for s in first] == [f"v{i}" for i in range(5)]
        core.p.memory.delete(("k", "v0"))  # an entry vanishes mid-listing
        core.p.memory.set(("k", "a0"), "x")  # and one sorts before the rest
        rest = await core.listdir(fh, 2)
        assert [s.node.name for s in rest] == ["v2", "v3", "v4"]  # nothing skipped or repeated
        await core.releasedir(fh)
        fh = await core.opendir(k.ino)
        again = [s.node.name for s in await core.listdir(fh, 0)]
        assert again == ["a0", "v1", "v2", "v3", "v4"]
        await core.releasedir(fh)

    trio.run(main)


def test_wait_times_out_through_the_poller(tmp_path: Path) -> None:
    async def main() -> None:
        core = _core(tmp_path)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(core.poller.run)
            steps = await core.lookup(ROOT_INODE, "steps")
            step = await core.lookup(steps.ino, "s9")
            wait = await core.lookup(step.ino, "wait")
            fh = (await core.open(wait.ino, os.O_RDONLY)).fh
            with pytest.raises(TcfsError) as exc:
                await core.read(fh, 0, 100)
            assert exc.value.errno == errno.ETIMEDOUT
            nursery.cancel_scope.cancel()

    trio.run(main, clock=MockClock(rate=20))


def test_blocked_readers_share_one_paced_poller(tmp_path: Path) -> None:
    """Many blocked readers cost about one request a second in total."""
    store = CountingStore(tmp_path / "bucket", "proj")
    # virtual time runs 20x faster than the wall clock; requests run in real
    # threads, so their deadline is generous in virtual seconds
    core = FsCore(Project(store, "alice"), wait_timeout=6, readme=b"", calls=Calls(timeout=3600))
    outcomes: list[int] = []

    async def reader(step: str | None) -> None:
        steps = await core.lookup(ROOT_INODE, "steps" if step else "inbox")
        if step:
            parent = await core.lookup(steps.ino, step)
            node = await core.lookup(parent.ino, "wait")
        else:
            node = await core.lookup(steps.ino, "next")
        fh = (await core.open(node.ino, os.O_RDONLY)).fh
        try:
            await core.read(fh, 0, 100)
        except TcfsError as exc:
            outcomes.append(exc.errno)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(core.poller.run)
            await trio.sleep(0.1)
            before = store.calls
            async with trio.open_nursery() as readers:
                for i in range(8):
                    readers.start_soon(reader, f"s{i % 4}")
                for _ in range(4):
                    readers.start_soon(reader, None)
            polled = core.poller.requests
            assert store.calls - before >= polled > 0
            # 12 readers for ~6 s: one first look at everything (4 subscriptions and
            # statuses, both doorbells, the inbox), then a doorbell GET a pass, ~1/s
            first_look = 4 * 3 + 2 + 4
            # + 4 unsubscriptions, + a status read of the 4 steps when the bell is first seen
            assert polled <= first_look + 6 * REQUESTS_PER_S + 4 + 8, polled
            nursery.cancel_scope.cancel()

    trio.run(main, clock=MockClock(rate=20))
    assert outcomes == [errno.ETIMEDOUT] * 12


def test_a_message_kept_for_a_reader_that_gave_up_is_unread_at_once(tmp_path: Path) -> None:
    """Consumed for an ``inbox/next`` reader that was gone by then, it is
    still unread: the cursor's own hold on it keeps it from no reader."""
    core = _core(tmp_path)
    bob = Project(LocalStore(tmp_path / "bucket", "proj"), "bob")
    bob.messages.send("alice", "kept for the next reader")
    msg, _more = core.ctx.project.messages.take_next()
    assert msg is not None
    core.poller._undelivered.append(msg)  # what a delivery to no live reader leaves

    async def main() -> bytes:
        inbox_dir = await core.lookup(ROOT_INODE, "inbox")
        unread = await core.lookup(inbox_dir.ino, "unread")
        fh = (await core.open(unread.ino, os.O_RDONLY)).fh
        return bytes(await core.read(fh, 0, 1 << 16))

    try:
        doc = json.loads(trio.run(main))
    finally:
        bob.close()
        core.ctx.project.close()
    assert [u["text"] for u in doc["unread"]] == ["kept for the next reader"]


class _Recorded:
    """An event sink that keeps what it is given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, kind: str, subject: str | None = None, **detail: object) -> None:
        self.seen.append((kind, subject))


def test_rename_commits_a_scratch_file_once_and_refuses_what_it_cannot(tmp_path: Path) -> None:
    """A file under sed's temporary name is this core's alone until the rename,
    which sets the value once; a rename the core cannot do says why."""
    store = LocalStore(tmp_path / "bucket", "proj")
    events = _Recorded()
    core = FsCore(
        Project(store, "alice"),
        spool_dir=str(tmp_path),
        calls=Calls(timeout=3600),
        events=events,
    )

    def bucket() -> list[str]:
        return sorted(o.key for o in store.list("") if not o.key.startswith("events/"))

    async def main() -> None:
        mem = await core.lookup(ROOT_INODE, "memory")
        ns = await core.lookup(mem.ino, "design")
        opened, attr = await core.create(ns.ino, "sedAb12Cd", os.O_WRONLY)
        await core.write(opened.fh, 0, b"mongo\n")
        await core.release(opened.fh)
        assert bucket() == [] and events.seen == []
        listing = await core.listdir(await core.opendir(ns.ino), 0)
        assert [s.node.name for s in listing] == ["sedAb12Cd"]  # this core sees it
        await core.rename(ns.ino, "sedAb12Cd", ns.ino, "db")
        assert Project(store, "bob").memory.get("design.db").value == "mongo"
        assert events.seen == [("memory-set", "design.db")]
        assert (await core.getattr(attr.ino)).size == len(b"mongo\n")  # the inode moved
        with pytest.raises(NotFound):
            await core.lookup(ns.ino, "sedAb12Cd")
        # a scratch file removed before any rename leaves nothing
        opened, _ = await core.create(ns.ino, "tmpabcd1234", os.O_WRONLY)
        await core.write(opened.fh, 0, b"x")
        await core.release(opened.fh)
        await core.unlink(ns.ino, "tmpabcd1234")
        assert [k for k in bucket() if "tmp" in k] == []
        # what a rename cannot do
        arts = await core.lookup(ROOT_INODE, "artifacts")
        shared = await core.lookup(arts.ino, "shared")
        cases = [
            ((ROOT_INODE, "README", ROOT_INODE, "README2"), errno.ENOTSUP),
            ((ns.ino, "db", shared.ino, "db"), errno.EXDEV),
            ((mem.ino, "design", mem.ino, "other"), errno.EXDEV),  # a directory
            ((ROOT_INODE, "memory", ROOT_INODE, "mem2"), errno.EACCES),
            ((ns.ino, "db", ns.ino, "db", 2), errno.ENOTSUP),  # RENAME_EXCHANGE
        ]
        for args, want in cases:
            with pytest.raises(TcfsError) as exc:
                await core.rename(*args)  # type: ignore[arg-type]
            assert exc.value.errno == want, (args, exc.value)
        assert events.seen == [("memory-set", "design.db")]

    trio.run(main)

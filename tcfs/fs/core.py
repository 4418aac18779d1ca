"""The filesystem core: every operation on inode numbers and plain values.

Nothing here knows a FUSE binding's types, so the core runs (and is tested)
without a mount; ``adapter.py`` converts its answers to pyfuse3's (and
``adapter_mfusepy.py`` to mfusepy's), and ``boundary.py`` its ``TcfsError``s
to errnos in one place.  The core keeps the generic bookkeeping only:
inode numbers and lookup counts, open handles, directory snapshots, the
kernel's cache lifetimes.  What a path *does* is its node's (``tree.py``
names the class of every path, ``kinds/`` implements them).
"""

from __future__ import annotations

import itertools
import os
import stat as stat_
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from tcfs.errors import (
    BadHandle,
    CrossDevice,
    Exists,
    InvalidName,
    IsADirectory,
    NameTooLong,
    NotADirectory,
    NotFound,
    NotOnAMount,
    ReadOnly,
    Stale,
    TcfsError,
)
from tcfs.fs import handles as h
from tcfs.fs import tree
from tcfs.fs.calls import Calls
from tcfs.fs.context import FILE_TTL_S, MAX_KEPT, REQUESTER, FsContext
from tcfs.fs.events_feed import EventsFeed
from tcfs.fs.inodes import Inode, InodeTable
from tcfs.fs.kinds.scratch import Scratch
from tcfs.fs.nodes import Dir, Node, OpenMode, Path, Rendered, Stat
from tcfs.fs.poller import Poller
from tcfs.fs.tailer import Tailer
from tcfs.protocol.events.writer import EventSink, NoEvents

if TYPE_CHECKING:
    from tcfs.protocol import Project
    from tcfs.protocol.sessions import SessionReader

DIR_TTL_S = 1.0
#: a directory that exists by its path alone (all but ``memory/``'s namespaces
#: and key directories): nothing about its entry can go stale, so the kernel
#: keeps it and a command run now and then does not look each one up again
LASTING_TTL_S = 3600.0
#: rename(2)'s flags (renameat2): fail if the new name exists / swap the two
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


@dataclass
class Attr:
    """What ``stat`` shows; ``attr_timeout=0`` asks the kernel not to cache it."""

    ino: int
    mode: int
    size: int
    mtime: float
    uid: int
    gid: int
    entry_timeout: float
    attr_timeout: float


@dataclass
class Opened:
    fh: int
    direct_io: bool
    keep_cache: bool = False


class FsCore:
    def __init__(
        self,
        project: Project,
        *,
        sessions: SessionReader | None = None,
        wait_timeout: float = 300.0,
        spool_dir: str | None = None,
        readme: bytes = b"",
        calls: Calls | None = None,
        invalidate: Callable[[int], None] | None = None,
        poll_interval: float = 1.0,
        events: EventSink | None = None,
    ) -> None:
        self.p = project
        self.calls = calls or Calls.for_store(project.store)
        self.inodes = InodeTable()
        self.tailer = Tailer(sessions, self.calls, invalidate)
        self.poller = Poller(
            project.steps,
            project.messages,
            self.calls,
            project.waiting,
            timeout=wait_timeout,
            interval=poll_interval,
        )
        self.ctx = FsContext(
            project=project,
            calls=self.calls,
            poller=self.poller,
            tailer=self.tailer,
            readme=readme,
            spool_dir=spool_dir or "",
            events=events or NoEvents(),
            feed=EventsFeed(project.store, invalidate),
        )
        self.uid = os.getuid()
        self.gid = os.getgid()
        self.started = time.time()
        self._handles: dict[int, h.Handle] = {}
        # inode -> (when, size, mtime) of the content a read open just fetched
        self._opened_sizes: dict[int, tuple[float, int, float | None]] = {}
        self._dirs: dict[int, tuple[int, list[Stat] | None]] = {}
        self._fh = itertools.count(1)

    def start(self) -> None:
        """What the mount learns as it starts serving (in the background): the
        one-part keys under memory/, so no lookup there waits for the bucket."""
        ctx = self.ctx

        async def one_part_keys() -> frozenset[str] | None:
            return await ctx.run(ctx.project.memory.one_part_keys)

        ctx.namespaces.start_listing(one_part_keys)

    # ----- inodes and attributes -----

    def inode(self, ino: int) -> Inode:
        entry = self.inodes.get(ino)
        if entry is None:
            raise Stale(f"inode {ino} is no longer known")
        return entry

    def attr(self, ino: int, st: Stat) -> Attr:
        node = st.node
        ttl = (LASTING_TTL_S if node.lasting else DIR_TTL_S) if node.is_dir else FILE_TTL_S
        size = self._writer_size(ino)
        if size is None:
            size = node.live_size(self.ctx, ino)
        if size is None:
            size = st.size
        return Attr(
            ino=ino,
            mode=node.mode,
            size=size or 0,
            mtime=st.mtime or self.started,
            uid=self.uid,
            gid=self.gid,
            entry_timeout=ttl,
            attr_timeout=ttl if size is not None else 0.0,
        )

    def _writer_size(self, ino: int) -> int | None:
        sizes = [
            hd.pending_size
            for hd in self._handles.values()
            if hd.ino == ino and hd.pending_size is not None
        ]
        return max(sizes) if sizes else None

    def _open_writer_of(self, node: Node) -> Inode | None:
        """The inode of ``node`` if a handle is writing it on this mount."""
        entry = self.inodes.find(node.path)
        if entry is not None and self._writer_size(entry.ino) is not None:
            return entry
        return None

    async def _stat(self, node: Node, *, keep: bool = False, again: bool = False) -> Stat:
        writing = self._open_writer_of(node)
        if writing is not None:  # created here, not yet in the bucket (artifact, message)
            return Stat(writing.node, self._writer_size(writing.ino), time.time())
        if again:
            return await node.restat(self.ctx)
        return await node.stat(self.ctx, keep=keep)

    def _child_path(self, parent: Inode, name: str) -> Path:
        if not parent.node.is_dir:
            raise NotADirectory(f"{parent.node.where} is not a directory")
        if name == ".":
            return parent.path
        if name == "..":
            return parent.path[:-1]
        if len(name.encode()) > tree.NAME_MAX:
            raise NameTooLong("name too long")
        return (*parent.path, name)

    def _child(self, parent_ino: int, name: str) -> Node:
        return tree.classify(self._child_path(self.inode(parent_ino), name))

    # ----- entry-returning operations (each counts one lookup) -----

    async def lookup(self, parent_ino: int, name: str, *, pid: int | None = None) -> Attr:
        REQUESTER.set(pid)
        try:
            st = await self._stat(self._child(parent_ino, name), keep=True)
        except InvalidName as exc:
            if not tree.is_glob(name):
                raise
            # a shell passes a glob that matched nothing on as it is (`cat inbox/*`
            # on an empty inbox): no such file, as in any empty directory
            raise NotFound(f"nothing matches {name!r}") from exc
        entry = self.inodes.ref(st.node)
        return self.attr(entry.ino, st)

    async def getattr(self, ino: int) -> Attr:
        entry = self.inode(ino)
        opened = self._opened_size(entry)
        if opened is not None:
            return self.attr(ino, opened)
        try:
            st = await self._stat(entry.node, again=True)
        except NotFound:
            if entry.opens:
                return self.attr(ino, Stat(entry.node, 0))  # open but deleted
            raise
        if type(st.node) is not type(entry.node):  # a memory value became a directory
            raise Stale(f"{entry.node.where} changed kind: look it up again")
        return self.attr(ino, st)

    async def mkdir(self, parent_ino: int, name: str) -> Attr:
        made = await self._child(parent_ino, name).mkdir(self.ctx)
        entry = self.inodes.ref(made)
        return self.attr(entry.ino, Stat(made))

    async def create(self, parent_ino: int, name: str, flags: int) -> tuple[Opened, Attr]:
        path = self._child_path(self.inode(parent_ino), name)
        try:
            node = tree.classify(path).for_create()
        except NotFound:
            raise ReadOnly(f"cannot create {'/'.join(path)}") from None
        if not node.creatable:
            raise ReadOnly(f"cannot create {node.where}: it is read-only")
        entry = self.inodes.ensure(node)
        how = OpenMode(truncate=True, append=bool(flags & os.O_APPEND), created=True)
        handle = await self._open_writer(entry, how)
        self.inodes.ref(node)
        opened = self._register(entry, handle)
        size = handle.pending_size if handle.pending_size is not None else 0
        return opened, self.attr(entry.ino, Stat(node, size, time.time()))

    def forget(self, items: list[tuple[int, int]]) -> None:
        for ino, n in items:
            self.inodes.forget(ino, n)

    # ----- directories -----

    async def opendir(self, ino: int) -> int:
        entry = self.inode(ino)
        if not entry.node.is_dir:
            raise NotADirectory(f"{entry.node.where} is not a directory")
        fh = next(self._fh)
        self._dirs[fh] = (ino, None)
        self.inodes.opened(ino)
        return fh

    async def listdir(self, fh: int, start: int) -> list[Stat]:
        """The directory's entries from ``start`` on (an index into a snapshot).

        The snapshot is taken when a listing starts (offset 0) and kept for the
        handle, so offsets stay stable while entries come and go in the bucket:
        nothing is skipped or returned twice within one listing.
        """
        ino, snap = self._dirs[fh]
        if snap is None or start == 0:
            node = self.inode(ino).node
            snap = await node.entries(self.ctx) if isinstance(node, Dir) else []
            snap += self._scratch_entries(node, {st.node.name for st in snap})
            self._dirs[fh] = (ino, snap)
        return snap[start:]

    def _scratch_entries(self, node: Node, listed: set[str]) -> list[Stat]:
        """This mount's scratch files in ``node`` (``tcfs.fs.scratch``): its own
        tools (``diff -r``, ``ls``) see them; the bucket never does."""
        return [
            Stat(Scratch(path), file.size, file.mtime)
            for path, file in self.ctx.scratch.in_dir(node.path)
            if path[-1] not in listed
        ]

    async def releasedir(self, fh: int) -> None:
        item = self._dirs.pop(fh, None)
        if item is not None:
            self.inodes.closed(item[0])
        if len(self.inodes) > 4096:
            self.inodes.prune_unreferenced()

    async def rmdir(self, parent_ino: int, name: str) -> None:
        await self._child(parent_ino, name).rmdir(self.ctx)

    async def unlink(self, parent_ino: int, name: str) -> None:
        node = self._child(parent_ino, name)
        self.ctx.rendered.forget(node)
        found = self.inodes.find(node.path)
        if found is not None:
            self._opened_sizes.pop(found.ino, None)
        await node.unlink(self.ctx)

    async def rename(
        self, parent_old: int, name_old: str, parent_new: int, name_new: str, flags: int = 0
    ) -> None:
        """Rename a file: the new name takes its content in one write (one
        value, one artifact, one event), then the old name is removed.  A
        scratch file (``tcfs.fs.scratch``) so becomes a key only now.  A
        directory, or a file going to another top directory: ``EXDEV``, and
        ``mv`` copies."""
        if flags & RENAME_EXCHANGE:
            raise NotOnAMount("rename --exchange is not supported on a tcfs mount")
        src = (await self._stat(self._child(parent_old, name_old))).node
        if not (src.is_dir or src.writable):
            raise NotOnAMount(f"{src.where} is read-only: it cannot be renamed")
        try:
            target = self._child(parent_new, name_new)
        except NotFound:
            raise ReadOnly(f"nothing can be made at {name_new!r} there") from None
        try:
            dst = (await self._stat(target)).node
        except NotFound:
            dst = target.for_create()
        else:
            if flags & RENAME_NOREPLACE:
                raise Exists(f"{dst.where} exists")
        if src.path == dst.path:
            return
        if src.is_dir or src.path[:1] != dst.path[:1]:
            raise CrossDevice(f"{src.where} cannot move to {dst.where} in one step: copy it")
        if dst.is_dir:
            raise IsADirectory(f"{dst.where} is a directory")
        if not dst.writable:
            raise ReadOnly(f"{dst.where} is read-only")
        for node in (src, dst):
            self.ctx.rendered.forget(node)
            found = self.inodes.find(node.path)
            if found is not None:
                self._opened_sizes.pop(found.ino, None)
        await src.rename_to(self.ctx, dst)
        self.inodes.move(src.path, dst)

    async def publish_lingering(self) -> None:
        """At unmount: the artifacts left under scratch names that were not
        published yet (closed less than ``LINGER_S`` ago) are, now."""
        for path in self.ctx.scratch.idle():
            await Scratch(path).publish(self.ctx)

    # ----- files -----

    def _opened_size(self, entry: Inode) -> Stat | None:
        """The size of what an open of ``entry`` fetched within ``FILE_TTL_S``.

        The kernel asks ``getattr`` right after an open it had a cached entry
        for (``cat`` run twice): the content that open just read answers it,
        as the lookup's would have, without a second request.
        """
        seen = self._opened_sizes.get(entry.ino)
        if seen is None or not isinstance(entry.node, Rendered):
            return None
        at, size, mtime = seen
        if trio.current_time() - at > FILE_TTL_S:
            del self._opened_sizes[entry.ino]
            return None
        return Stat(entry.node, size, mtime)

    def _register(self, entry: Inode, handle: h.Handle) -> Opened:
        if isinstance(handle, h.SnapshotHandle):
            if len(self._opened_sizes) >= MAX_KEPT:
                self._opened_sizes.clear()
            self._opened_sizes[entry.ino] = (trio.current_time(), len(handle.data), handle.mtime)
        fh = next(self._fh)
        self._handles[fh] = handle
        self.inodes.opened(entry.ino)
        return Opened(fh, direct_io=entry.node.direct_io, keep_cache=handle.keep_cache)

    def handle(self, fh: int) -> h.Handle:
        try:
            return self._handles[fh]
        except KeyError:
            raise BadHandle(f"bad file handle {fh}") from None

    async def open(self, ino: int, flags: int, *, pid: int | None = None) -> Opened:
        REQUESTER.set(pid)
        entry = self.inode(ino)
        if entry.node.is_dir:
            raise IsADirectory(f"{entry.node.where} is a directory")
        if (flags & os.O_ACCMODE) in (os.O_WRONLY, os.O_RDWR):
            how = OpenMode(truncate=bool(flags & os.O_TRUNC), append=bool(flags & os.O_APPEND))
            handle = await self._open_writer(entry, how)
        else:
            handle = await entry.node.open_read(self.ctx, ino)
        return self._register(entry, handle)

    async def _open_writer(self, entry: Inode, how: OpenMode) -> h.Handle:
        node = entry.node
        self._opened_sizes.pop(entry.ino, None)  # what a read saw is no answer once written
        try:
            if not node.writable:
                raise ReadOnly(f"{node.where} is read-only")
            # the node may decide on what its lookup just read (ctx.rendered)
            return await node.open_write(self.ctx, entry.ino, how)
        finally:
            self.ctx.rendered.forget(node)

    async def read(self, fh: int, off: int, size: int) -> h.Chunk:
        return await self.handle(fh).read(off, size)

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return await self.handle(fh).write(off, buf)

    async def flush(self, fh: int) -> None:
        await self.handle(fh).flush()

    async def fsync(self, fh: int) -> None:
        await self.handle(fh).flush()

    async def release(self, fh: int) -> None:
        handle = self._handles.get(fh)
        if handle is None:
            return
        try:
            await handle.release()
        finally:
            del self._handles[fh]
            self.inodes.closed(handle.ino)
            if not isinstance(handle, h.SnapshotHandle):  # a writer may have changed it
                self._opened_sizes.pop(handle.ino, None)

    async def setattr(
        self,
        ino: int,
        *,
        size: int | None = None,
        mode: int | None = None,
        owner: bool = False,
        fh: int | None = None,
    ) -> Attr:
        entry = self.inode(ino)
        node = entry.node
        if mode is not None and stat_.S_IMODE(mode) != node.perm and node.fixed_mode:
            raise NotOnAMount("permissions are fixed by the path's kind (chmod is not supported)")
        if owner:
            raise NotOnAMount("ownership is not supported (chown)")
        if size is not None:
            self._opened_sizes.pop(ino, None)
            if node.is_dir:
                raise IsADirectory(f"{node.where} is a directory")
            if not node.writable:
                raise ReadOnly(f"{node.where} is read-only")
            handle = self._handles.get(fh) if fh is not None else None
            if handle is None:  # truncate(path): the file may be open for writing here
                handle = next(
                    (
                        hd
                        for hd in self._handles.values()
                        if hd.ino == ino and hd.pending_size is not None
                    ),
                    None,
                )
            if handle is not None:
                await handle.truncate(size)
            else:
                await node.truncate(self.ctx, size)
        # times are accepted and ignored: the bucket keeps its own
        return await self.getattr(ino)

    def path_of(
        self, *, inode: int | None = None, name: str | None = None, fh: int | None = None
    ) -> str:
        """The mount path a request was about, for its refusal (never raises)."""
        if fh is not None and (handle := self._handles.get(fh)) is not None:
            inode = handle.ino
        entry = self.inodes.get(inode) if inode is not None else None
        base = "/".join(entry.node.path) if entry is not None else ""
        return "/".join(part for part in (base, name) if part) or "/"

    def unsupported(self, what: str) -> TcfsError:
        return NotOnAMount(f"{what} is not supported on a tcfs mount")

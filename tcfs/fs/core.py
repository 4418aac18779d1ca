"""The filesystem core: every operation on inode numbers and plain values.

Nothing here knows pyfuse3's types, so the core runs (and is tested) without a
mount; ``adapter.py`` converts its answers to pyfuse3's and its ``TcfsError``s
to ``FUSEError`` in one place.  Each operation classifies the path (pure,
``nodes``), asks ``Entries`` what exists, and opens one of the ``handles``.
Every request to the bucket goes through ``Calls`` (worker thread, deadline).
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import stat as stat_
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from tcfs.errors import AccessDenied, InvalidName, NotFound, TcfsError, Unsupported
from tcfs.fs import handles as h
from tcfs.fs import nodes
from tcfs.fs.calls import Calls
from tcfs.fs.entries import Entries, Stat
from tcfs.fs.inodes import Inode, InodeTable
from tcfs.fs.nodes import Kind, Node
from tcfs.fs.poller import Poller
from tcfs.fs.tailer import Tailer

log = logging.getLogger(__name__)

#: kernel cache lifetimes (pyfuse3's default is 300 s, which defeats tail -f)
FILE_TTL_S = 0.1
#: how long the content a lookup fetched may serve the open that follows it: the
#: kernel sends that open right after the lookup's answer, within the same
#: syscall; any later open (another command) fetches afresh (close-to-open)
RENDER_REUSE_S = 0.003
#: small files whose lookup fetches and renders the content an open can reuse
RENDERED_AT_LOOKUP = frozenset(
    {Kind.AGENT, Kind.CLAIM, Kind.HANDOFF, Kind.INBOX_MSG, Kind.MEMORY_VALUE}
)
DIR_TTL_S = 1.0

MAX_TEXT = 1 << 20  # memory values and messages
MAX_STATUS = 4 << 10
MAX_HANDOFF = 512 << 10
#: uploads get a deadline that grows with their size
UPLOAD_BASE_S = 120.0
UPLOAD_S_PER_MIB = 2.0

READ_ONLY = frozenset(
    {Kind.README, Kind.AGENT, Kind.WAIT, Kind.INBOX_MSG, Kind.INBOX_NEXT, Kind.SESSION}
)


@dataclass
class Attr:
    """What ``stat`` shows; ``size_known=False`` asks the kernel not to cache it."""

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


def _fs_error(message: str, code: int) -> TcfsError:
    return TcfsError(message, errno=code, level=logging.INFO)


class FsCore:
    def __init__(
        self,
        project: Any,
        *,
        sessions: Any = None,
        wait_timeout: float = 300.0,
        spool_dir: str | None = None,
        readme: bytes = b"",
        calls: Calls | None = None,
        invalidate: Any = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.p = project
        self.calls = calls or Calls()
        self.inodes = InodeTable()
        self.tailer = Tailer(sessions, self.calls, invalidate)
        self.poller = Poller(
            project.steps,
            project.messages,
            self.calls,
            timeout=wait_timeout,
            interval=poll_interval,
        )
        self.entries = Entries(project, self.calls, self.tailer, readme)
        self.spool_dir = spool_dir or None
        self.uid = os.getuid()
        self.gid = os.getgid()
        self.started = time.time()
        self._handles: dict[int, h.Handle] = {}
        self._dirs: dict[int, tuple[int, list[Stat] | None]] = {}
        self._fh = itertools.count(1)

    # ----- inodes and attributes -----

    def inode(self, ino: int) -> Inode:
        entry = self.inodes.get(ino)
        if entry is None:
            raise _fs_error(f"inode {ino} is no longer known", errno.ESTALE)
        return entry

    def attr(self, ino: int, st: Stat) -> Attr:
        node = st.node
        is_dir = node.is_dir
        ttl = DIR_TTL_S if is_dir else FILE_TTL_S
        size = st.size
        writer = self._writer_size(ino)
        if writer is not None:
            size = writer
        elif node.kind is Kind.SESSION:
            fresh = self.tailer.size(ino)
            size = fresh if fresh is not None else size
        return Attr(
            ino=ino,
            mode=nodes.mode_of(node.kind),
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

    def _has_writer(self, node: Node) -> int | None:
        entry = self.inodes.find(node.path)
        if entry is not None and self._writer_size(entry.ino) is not None:
            return entry.ino
        return None

    async def _stat(self, node: Node, *, keep: bool = False) -> Stat:
        ino = self._has_writer(node)
        if ino is not None:  # created here, not yet in the bucket (artifact, message)
            return Stat(self.inode(ino).node, self._writer_size(ino))
        return await self.entries.resolve(node, keep=keep)

    def _child_path(self, parent: Inode, name: str) -> nodes.Path:
        if not parent.node.is_dir:
            raise _fs_error(f"{'/'.join(parent.path)} is not a directory", errno.ENOTDIR)
        if name == ".":
            return parent.path
        if name == "..":
            return parent.path[:-1]
        if len(name.encode()) > nodes.NAME_MAX:
            raise _fs_error("name too long", errno.ENAMETOOLONG)
        return (*parent.path, name)

    # ----- entry-returning operations (each counts one lookup) -----

    async def lookup(self, parent_ino: int, name: str) -> Attr:
        path = self._child_path(self.inode(parent_ino), name)
        node = nodes.classify(path)
        st = await self._stat(node, keep=True)
        entry = self.inodes.ref(st.node)
        return self.attr(entry.ino, st)

    async def getattr(self, ino: int) -> Attr:
        entry = self.inode(ino)
        if entry.kind is Kind.OUTBOX_MSG:
            return self.attr(ino, Stat(entry.node, 0))
        try:
            st = await self._stat(entry.node)
        except NotFound:
            if self.inodes.get(ino) is not None and entry.opens:
                return self.attr(ino, Stat(entry.node, 0))  # open but deleted
            raise
        if st.node.kind is not entry.kind:  # a memory value became a directory
            raise _fs_error("/".join(entry.path) + " changed kind", errno.ESTALE)
        return self.attr(ino, st)

    async def mkdir(self, parent_ino: int, name: str) -> Attr:
        parent = self.inode(parent_ino)
        path = self._child_path(parent, name)
        node = nodes.classify(path)
        if node.kind is not Kind.MEMORY_ENTRY:
            if node.is_dir:  # steps/<id>, artifacts/<scope>: they exist by name
                raise _fs_error(f"{'/'.join(path)} exists", errno.EEXIST)
            raise AccessDenied(f"cannot make a directory at {'/'.join(path)}")
        try:
            await self.calls.run(self.p.memory.get, node.memory_key)
        except NotFound:
            pass
        else:
            raise _fs_error(f"memory key {'.'.join(node.memory_key)} holds a value", errno.EEXIST)
        for i in range(1, len(node.memory_key) + 1):
            self.entries.local_dirs.add(node.memory_key[:i])
        entry = self.inodes.ref(Node(Kind.MEMORY_DIR, path))
        return self.attr(entry.ino, Stat(entry.node))

    async def create(self, parent_ino: int, name: str, flags: int) -> tuple[Opened, Attr]:
        parent = self.inode(parent_ino)
        path = self._child_path(parent, name)
        try:
            node = nodes.child_kind_for_create(parent.node, name)
        except NotFound:
            raise AccessDenied(f"cannot create {'/'.join(path)}") from None
        if node.kind not in nodes.CREATES.get(parent.kind, ()):
            raise AccessDenied(f"cannot create {'/'.join(path)}: it is read-only")
        entry = self.inodes.ensure(node)
        handle = await self._open_writer(entry, flags, created=True)
        self.inodes.ref(node)
        opened = self._register(entry, handle)
        size = handle.pending_size if handle.pending_size is not None else 0
        return opened, self.attr(entry.ino, Stat(node, size))

    def forget(self, items: list[tuple[int, int]]) -> None:
        for ino, n in items:
            self.inodes.forget(ino, n)

    # ----- directories -----

    async def opendir(self, ino: int) -> int:
        entry = self.inode(ino)
        if not entry.node.is_dir:
            raise _fs_error("not a directory", errno.ENOTDIR)
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
            snap = await self.entries.list(self.inode(ino).node)
            self._dirs[fh] = (ino, snap)
        return snap[start:]

    async def releasedir(self, fh: int) -> None:
        item = self._dirs.pop(fh, None)
        if item is not None:
            self.inodes.closed(item[0])
        if len(self.inodes) > 4096:
            self.inodes.prune_unreferenced()

    async def rmdir(self, parent_ino: int, name: str) -> None:
        path = self._child_path(self.inode(parent_ino), name)
        node = nodes.classify(path)
        if node.kind is not Kind.MEMORY_ENTRY:
            raise AccessDenied(f"cannot remove {'/'.join(path)}")
        key = node.memory_key
        values, dirs = await self.calls.run(self.p.memory.list, key)
        local = {d for d in self.entries.local_dirs if len(d) > len(key) and d[: len(key)] == key}
        if values or dirs or local:
            raise _fs_error(f"memory/{'/'.join(key)} is not empty", errno.ENOTEMPTY)
        if key not in self.entries.local_dirs:
            if nodes.is_namespace(key):
                return  # an empty namespace: it exists by name, there is nothing to remove
            try:
                await self.calls.run(self.p.memory.get, key)
            except NotFound:
                raise NotFound(f"no memory directory {'/'.join(key)}") from None
            raise _fs_error(f"memory/{'/'.join(key)} is a value", errno.ENOTDIR)
        self.entries.local_dirs.discard(key)

    # ----- files -----

    def _register(self, entry: Inode, handle: h.Handle) -> Opened:
        fh = next(self._fh)
        self._handles[fh] = handle
        self.inodes.opened(entry.ino)
        kind = entry.kind
        return Opened(fh, direct_io=kind in nodes.DIRECT_IO)

    def handle(self, fh: int) -> h.Handle:
        try:
            return self._handles[fh]
        except KeyError:
            raise _fs_error(f"bad file handle {fh}", errno.EBADF) from None

    async def open(self, ino: int, flags: int) -> Opened:
        entry = self.inode(ino)
        if entry.node.is_dir:
            raise _fs_error("is a directory", errno.EISDIR)
        writing = (flags & os.O_ACCMODE) in (os.O_WRONLY, os.O_RDWR)
        if writing:
            handle = await self._open_writer(entry, flags, created=False)
        else:
            handle = await self._open_reader(entry)
        return self._register(entry, handle)

    async def _open_reader(self, entry: Inode) -> h.Handle:
        node, ino, run, p = entry.node, entry.ino, self.calls.run, self.p
        k = node.kind
        if k in RENDERED_AT_LOOKUP:
            body = self.entries.take_rendered(node, RENDER_REUSE_S)
            if body is not None:
                return h.SnapshotHandle(ino, body)
        if k is Kind.README:
            return h.SnapshotHandle(ino, self.entries.readme)
        if k is Kind.AGENT:
            rec = await run(p.agents.get, node.agent_id)
            return h.SnapshotHandle(ino, p.agents.render(rec))
        if k is Kind.CLAIM:
            claim = await run(p.steps.read_claim, node.step)
            return h.SnapshotHandle(ino, claim.render())
        if k is Kind.STATUS:
            st = await run(p.steps.status, node.step)
            return h.SnapshotHandle(ino, (st.status + "\n").encode())
        if k is Kind.HANDOFF:
            doc = await run(p.steps.read_handoff, node.step)
            return h.SnapshotHandle(ino, p.steps.render_handoff(doc))
        if k is Kind.WAIT:
            return h.BlockingHandle(ino, lambda: self._wait_step(node.step))
        if k is Kind.MEMORY_VALUE:
            value = await run(p.memory.get, node.memory_key)
            return h.SnapshotHandle(ino, value.render())
        if k is Kind.INBOX_MSG:
            msg = await run(p.messages.read, node.name)
            return h.SnapshotHandle(ino, msg.render())
        if k is Kind.INBOX_NEXT:
            return h.BlockingHandle(ino, self._next_message)
        if k is Kind.OUTBOX_MSG:
            raise AccessDenied("the outbox is write-only")
        if k is Kind.ARTIFACT:
            scope, name = node.scope, node.name
            await run(p.artifacts.head, scope, name)  # ENOENT now, not at the first read

            async def fetch(off: int, size: int) -> bytes:
                return await run(p.artifacts.read, scope, name, off, size)

            return h.ArtifactReader(ino, fetch)
        if k is Kind.SESSION:
            parts = await self.tailer.parts(node.harness, node.session_id)
            self.tailer.track(ino, node.harness, node.session_id, parts)
            return h.SessionHandle(ino, self.tailer, self.calls)
        raise AccessDenied(f"cannot open {'/'.join(node.path)}")

    async def _wait_step(self, step: str) -> bytes:
        return (await self.poller.wait_step(step) + "\n").encode()

    async def _next_message(self) -> bytes:
        return (await self.poller.next_message()).render()

    async def _open_writer(self, entry: Inode, flags: int, *, created: bool) -> h.Handle:
        node, ino, run, p = entry.node, entry.ino, self.calls.run, self.p
        k = node.kind
        self.entries.forget_rendered(node.path)
        if k in READ_ONLY or k not in nodes.WRITABLE:
            raise AccessDenied(f"{'/'.join(node.path)} is read-only")
        truncated = created or bool(flags & os.O_TRUNC)
        append = bool(flags & os.O_APPEND)
        if k is Kind.CLAIM:
            # The claim is decided here, in open/create: the only errors bash's
            # builtin `echo me > claim` reports (it ignores close()).
            claim = await run(p.steps.claim, node.step)
            return h.ClaimHandle(ino, claim.render())
        if k is Kind.STATUS:
            step = node.step

            async def set_status(text: str) -> None:
                word = text.strip()
                if not word:
                    return
                await run(p.steps.set_status, step, word)

            return h.TextWriter(ino, set_status, limit=MAX_STATUS, what="a status", created=True)
        if k is Kind.HANDOFF:
            step = node.step

            async def handoff(text: str) -> None:
                await run(lambda: p.steps.handoff(step, **_handoff_fields(text)))

            return h.TextWriter(ino, handoff, limit=MAX_HANDOFF, what="a handoff", created=True)
        if k is Kind.MEMORY_VALUE:
            key = node.memory_key

            async def set_value(text: str) -> None:
                await run(p.memory.set, key, _strip_newline(text))

            async def current() -> bytes:
                try:
                    return (await run(p.memory.get, key)).render()
                except NotFound:
                    return b""

            return h.TextWriter(
                ino,
                set_value,
                limit=MAX_TEXT,
                what="a memory value",
                base=current,
                append=append,
                commit_empty=True,
                created=truncated,
            )
        if k is Kind.OUTBOX_MSG:
            to = node.name
            sent: list[Any] = []

            async def send(text: str) -> None:
                body = _strip_newline(text)
                if sent:
                    sent[0] = await run(p.messages.rewrite, sent[0], body)
                else:
                    sent.append(await run(p.messages.send, to, body))

            return h.TextWriter(ino, send, limit=MAX_TEXT, what="a message", created=True)
        if k is Kind.ARTIFACT:
            return self._artifact_writer(entry, created=truncated, append=append)
        raise AccessDenied(f"{'/'.join(node.path)} is read-only")  # pragma: no cover

    def _artifact_writer(self, entry: Inode, *, created: bool, append: bool) -> h.ArtifactWriter:
        scope, name, run, p = entry.node.scope, entry.node.name, self.calls.run, self.p

        async def upload(fileobj: BinaryIO, size: int) -> None:
            limit = UPLOAD_BASE_S + UPLOAD_S_PER_MIB * size / (1 << 20)
            await run(p.artifacts.upload, scope, name, fileobj, size, timeout=limit)

        async def download(fileobj: BinaryIO) -> None:
            try:
                await run(p.artifacts.download, scope, name, fileobj, timeout=UPLOAD_BASE_S)
            except NotFound:
                pass

        return h.ArtifactWriter(
            entry.ino,
            self.spool_dir or _tmpdir(),
            upload,
            download=download,
            created=created,
            append=append,
        )

    async def read(self, fh: int, off: int, size: int) -> bytes:
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
        if mode is not None and stat_.S_IMODE(mode) != stat_.S_IMODE(nodes.mode_of(entry.kind)):
            raise Unsupported("permissions are fixed by the path's kind (chmod is not supported)")
        if owner:
            raise Unsupported("ownership is not supported (chown)")
        if size is not None:
            if entry.node.is_dir:
                raise _fs_error("is a directory", errno.EISDIR)
            if entry.kind not in nodes.WRITABLE:
                raise AccessDenied(f"{'/'.join(entry.path)} is read-only")
            handle = self._handles.get(fh) if fh is not None else None
            if handle is None:  # truncate(path): only emptying a memory value means something
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
            elif entry.kind is Kind.MEMORY_VALUE and size == 0:
                await self.calls.run(self.p.memory.set, entry.node.memory_key, "")
        # times are accepted and ignored: the bucket keeps its own
        return await self.getattr(ino)

    async def unlink(self, parent_ino: int, name: str) -> None:
        path = self._child_path(self.inode(parent_ino), name)
        node = nodes.classify(path)
        run, p, k = self.calls.run, self.p, node.kind
        self.entries.forget_rendered(path)
        if k is Kind.CLAIM:
            await run(p.steps.release, node.step)
        elif k is Kind.INBOX_MSG:
            await run(p.messages.remove, node.name)
        elif k is Kind.MEMORY_ENTRY:
            if node.memory_key in self.entries.local_dirs:
                raise _fs_error("is a directory", errno.EISDIR)
            await run(p.memory.delete, node.memory_key)
        elif k is Kind.ARTIFACT:
            await run(p.artifacts.delete, node.scope, node.name)
        elif node.is_dir:
            raise _fs_error("is a directory", errno.EISDIR)
        else:
            raise AccessDenied(f"{'/'.join(path)} cannot be removed")

    def unsupported(self, what: str) -> TcfsError:
        return Unsupported(f"{what} is not supported on a tcfs mount")


def _strip_newline(text: str) -> str:
    """``echo x >`` stores "x": one trailing newline is the shell's, not the value's."""
    return text[:-1] if text.endswith("\n") else text


def _handoff_fields(text: str) -> dict[str, Any]:
    """A handoff note, or a JSON object with the handoff's fields."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            allowed = ("note", "next_agent", "next_action", "state", "changed_files")
            unknown = set(doc) - set(allowed)
            if unknown:
                raise InvalidName(f"unknown handoff fields: {', '.join(sorted(unknown))}")
            out = {k: doc[k] for k in allowed if doc.get(k) is not None}
            for k in ("note", "next_agent", "next_action", "state"):
                if k in out and not isinstance(out[k], str):
                    raise InvalidName(f"handoff field {k!r} must be a string")
            cf = out.get("changed_files")
            if cf is not None and not (
                isinstance(cf, list) and all(isinstance(f, str) for f in cf)
            ):
                raise InvalidName("handoff field 'changed_files' must be a list of strings")
            return out
    return {"note": _strip_newline(text)}


def _tmpdir() -> str:
    import tempfile

    return tempfile.gettempdir()

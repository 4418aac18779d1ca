"""Open files: one small class per way a path behaves once opened.

* ``SnapshotHandle``  — read-only text rendered at ``open`` (claims, status,
  agent records, messages, memory values, README): one request per open, and a
  consistent view for the whole read.
* ``BlockingHandle``  — ``steps/<id>/wait`` and ``inbox/next``: the first read
  waits on the mount's poller, later reads return the same answer.
* ``ClaimHandle``     — the claim was decided in ``open``/``create``; what is
  written is ignored but bounded.
* ``TextWriter``      — status, handoff, memory values, outbox messages: every
  ``write()`` sends the whole text so far, so a failure is the ``write``'s error,
  which bash's builtin ``echo`` reports (it ignores ``close``).
* ``ArtifactWriter``  — spooled to a private temporary file, uploaded at
  ``flush``/``release`` (any size); ``ArtifactReader`` reads ranges in blocks.
* ``SessionHandle``   — the live transcript, through the tailer.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, BinaryIO

import trio

from tcfs.errors import InvalidArgument, ReadOnly, TcfsError, TooLarge

if TYPE_CHECKING:
    from tcfs.fs.tailer import Tailer

log = logging.getLogger(__name__)

#: a claim's body is ignored, but nobody streams gigabytes into it
MAX_CLAIM_WRITE = 64 << 10
#: artifacts are read from the store in blocks this big (sequential readers)
READ_BLOCK = 4 << 20

Commit = Callable[[str], Awaitable[None]]
#: what a read answers: bytes, or a view of a block the handle holds
Chunk = bytes | memoryview
Loader = Callable[[], Awaitable[bytes]]


class Handle:
    """Base: read-only and empty."""

    #: the size ``getattr`` reports while this handle is open for writing
    pending_size: int | None = None
    #: whether the kernel may keep the pages it cached of this file (the
    #: version opened is the one they came from); otherwise ``open`` drops them
    keep_cache: bool = False

    def __init__(self, ino: int) -> None:
        self.ino = ino

    async def read(self, off: int, size: int) -> Chunk:
        return b""

    async def write(self, off: int, buf: bytes) -> int:
        raise ReadOnly("this file is read-only")

    async def truncate(self, size: int) -> None:
        """``O_TRUNC`` or ``ftruncate`` on an open handle."""

    async def flush(self) -> None:
        """``close()`` of one descriptor: only confirms (writes went through)."""

    async def release(self) -> None:
        """The last descriptor closed; errors here reach nobody, so log them."""


class SnapshotHandle(Handle):
    def __init__(self, ino: int, data: bytes) -> None:
        super().__init__(ino)
        self.data = data

    async def read(self, off: int, size: int) -> bytes:
        return self.data[off : off + size]


class BlockingHandle(Handle):
    """The first read blocks in ``produce`` (bounded by the poller's timeout)."""

    def __init__(self, ino: int, produce: Loader) -> None:
        super().__init__(ino)
        self._produce = produce
        self._data: bytes | None = None
        self._lock = trio.Lock()

    async def read(self, off: int, size: int) -> bytes:
        async with self._lock:
            if self._data is None:
                self._data = await self._produce()
        return self._data[off : off + size]


class ClaimHandle(Handle):
    def __init__(self, ino: int, rendered: bytes) -> None:
        super().__init__(ino)
        self.rendered = rendered
        self.written = 0

    async def read(self, off: int, size: int) -> bytes:
        return self.rendered[off : off + size]

    async def write(self, off: int, buf: bytes) -> int:
        end = max(self.written, off + len(buf))
        if end > MAX_CLAIM_WRITE:
            raise TooLarge(f"a claim's content is ignored and limited to {MAX_CLAIM_WRITE} bytes")
        self.written = end
        return len(buf)


class TextWriter(Handle):
    """Accumulates text and commits all of it on every write.

    ``base`` loads the current content when a write does not start from an
    empty file (``>>`` or a write past offset 0 without ``O_TRUNC``).
    """

    def __init__(
        self,
        ino: int,
        commit: Commit,
        *,
        limit: int,
        what: str,
        base: Loader | None = None,
        append: bool = False,
        commit_empty: bool = False,
        created: bool = False,
    ) -> None:
        super().__init__(ino)
        self._commit = commit
        self.limit = limit
        self.what = what
        self._base = base
        self._append = append
        self._commit_empty = commit_empty
        self.buf = bytearray()
        self.loaded = created  # a new file has no earlier content
        self.committed = False
        self.truncated = created
        self.pending_size = 0

    async def _load(self) -> None:
        if not self.loaded and self._base is not None:
            self.buf = bytearray(await self._base())
        self.loaded = True

    async def read(self, off: int, size: int) -> bytes:
        return bytes(self.buf[off : off + size])

    async def truncate(self, size: int) -> None:
        if size == 0:
            self.buf = bytearray()
            self.loaded = True
            self.truncated = True
        else:
            await self._load()
            del self.buf[size:]
        self.pending_size = len(self.buf)

    async def write(self, off: int, buf: bytes) -> int:
        if not self.loaded and (self._append or off > 0):
            await self._load()
        self.loaded = True
        if self._append:
            off = len(self.buf)
        end = off + len(buf)
        if end > self.limit:
            raise TooLarge(f"{self.what} is limited to {self.limit} bytes")
        if off > len(self.buf):
            self.buf.extend(b"\0" * (off - len(self.buf)))
        self.buf[off:end] = buf
        self.pending_size = len(self.buf)
        await self._commit(self.text())
        self.committed = True
        return len(buf)

    def text(self) -> str:
        try:
            return bytes(self.buf).decode()
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{self.what} must be UTF-8 text", cause=exc) from exc

    async def release(self) -> None:
        # ``: > memory/x`` writes nothing: an emptied value is still a set.  Not
        # at ``flush``: bash's ``echo v > f`` opens, dup2()s and closes the first
        # descriptor (a flush) before it writes, so a flush-time empty set would
        # publish an empty value and a bogus history entry before the real one.
        if not self.committed and self.truncated and self._commit_empty:
            await self._commit("")
            self.committed = True


class ArtifactWriter(Handle):
    """Spool locally, upload whole at ``flush``/``release``.

    Writes may come at any offset (``cp`` with holes, ``dd seek=``); the spool
    is a private unnamed temporary file, so nothing is left behind on a crash.
    """

    def __init__(
        self,
        ino: int,
        spool_dir: str,
        upload: Callable[[BinaryIO, int], Awaitable[None]],
        *,
        download: Callable[[BinaryIO], Awaitable[None]] | None = None,
        created: bool = False,
        append: bool = False,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(ino)
        self._on_release = on_release
        self._spool: BinaryIO = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115
        self._upload = upload
        self._download = download
        self._append = append
        self.loaded = created
        self.dirty = created
        self.pending_size = 0

    async def _load(self) -> None:
        if not self.loaded and self._download is not None:
            await self._download(self._spool)
            self.pending_size = await trio.to_thread.run_sync(self._size)
        self.loaded = True

    def _size(self) -> int:
        return os.fstat(self._spool.fileno()).st_size

    async def truncate(self, size: int) -> None:
        if size:
            await self._load()
        else:
            self.loaded = True
        await trio.to_thread.run_sync(self._spool.truncate, size)
        self.pending_size = size
        self.dirty = True

    async def write(self, off: int, buf: bytes) -> int:
        if not self.loaded:
            await self._load()
        if self._append:
            off = self.pending_size or 0

        def put() -> None:
            os.pwrite(self._spool.fileno(), buf, off)

        await trio.to_thread.run_sync(put)
        self.pending_size = max(self.pending_size or 0, off + len(buf))
        self.dirty = True
        return len(buf)

    async def read(self, off: int, size: int) -> bytes:
        await self._load()
        return await trio.to_thread.run_sync(os.pread, self._spool.fileno(), size, off)

    async def flush(self) -> None:
        if not self.dirty:
            return
        size = self.pending_size or 0
        self._spool.seek(0)
        await self._upload(self._spool, size)
        self.dirty = False

    async def release(self) -> None:
        try:
            await self.flush()
        except TcfsError as exc:
            log.log(exc.level, "artifact upload at close failed: %s", exc)
        finally:
            self._spool.close()
            if self._on_release is not None:
                self._on_release()


class _Fetch:
    """One block being fetched: readers of it wait on ``done``; ``block`` is
    None when the fetch failed (the reader that needs it fetches it again)."""

    __slots__ = ("block", "done")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.block: bytes | None = None


class ArtifactReader(Handle):
    """Reads an artifact in blocks of ``READ_BLOCK``.  A sequential reader
    (``cp``, ``cat``) gets the next block fetched while it consumes this one,
    so the store's latency overlaps the kernel's copying; a read within one
    block is answered with a view of it (no copy in Python).  The kernel sends
    readahead requests concurrently: readers of a block being fetched wait
    for that fetch instead of starting another."""

    def __init__(
        self, ino: int, fetch: Callable[[int, int], Awaitable[bytes]], *, keep_cache: bool = False
    ) -> None:
        super().__init__(ino)
        self._fetch = fetch
        self.keep_cache = keep_cache
        self._block_off = -1
        self._block = b""
        #: blocks being fetched (or fetched, not yet read), by offset
        self._pending: dict[int, _Fetch] = {}

    async def _load(self, start: int) -> bytes:
        """The block at ``start``; the reader's latest block is kept, and the
        one after it fetched ahead."""
        if start == self._block_off:
            return self._block
        pending = self._pending.get(start)
        if pending is None:  # this reader fetches (and reports a failure)
            pending = self._pending[start] = _Fetch()
            try:
                pending.block = await self._fetch(start, READ_BLOCK)
            finally:
                pending.done.set()
                if pending.block is None:
                    self._pending.pop(start, None)
        else:
            await pending.done.wait()
        block = pending.block
        if block is None:  # fetched ahead and failed: this reader asks again
            block = await self._fetch(start, READ_BLOCK)
        if start < self._block_off:  # a reader went back: keep the block ahead
            self._pending.pop(start, None)
            return block
        self._block, self._block_off = block, start
        for done in [k for k in self._pending if k <= start]:
            del self._pending[done]
        ahead = start + READ_BLOCK
        if len(block) == READ_BLOCK and ahead not in self._pending:
            self._read_ahead(ahead)
        return block

    def _read_ahead(self, start: int) -> None:
        pending = self._pending[start] = _Fetch()

        async def fetch() -> None:
            # A system task: nothing may escape it but trio's own cancellation.
            try:
                pending.block = await self._fetch(start, READ_BLOCK)
            except Exception as exc:  # the reader that needs the block asks again
                log.debug("reading ahead at %d failed: %s", start, exc)
            finally:
                pending.done.set()

        trio.lowlevel.spawn_system_task(fetch)

    async def read(self, off: int, size: int) -> Chunk:
        start = off - off % READ_BLOCK
        if off + size <= start + READ_BLOCK:  # within one block (the kernel's reads are)
            block = await self._load(start)
            # a view, not a copy: pyfuse3 hands the buffer to the kernel as it is
            return memoryview(block)[off - start : off - start + size]
        out = bytearray()
        while size > 0:
            start = off - off % READ_BLOCK
            piece = (await self._load(start))[off - start : off - start + size]
            if not piece:
                break
            out += piece
            off += len(piece)
            size -= len(piece)
        return bytes(out)


class SessionHandle(Handle):
    def __init__(self, ino: int, tailer: Tailer) -> None:
        super().__init__(ino)
        self._tailer = tailer

    async def read(self, off: int, size: int) -> bytes:
        return await self._tailer.read(self.ino, off, size)

    async def release(self) -> None:
        self._tailer.untrack(self.ino)

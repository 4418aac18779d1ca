"""Open files: one small class per way a path behaves once opened.

* ``SnapshotHandle``  — read-only text rendered at ``open`` (claims, status,
  agent records, messages, memory values, README): one request per open, and a
  consistent view for the whole read.
* ``BlockingHandle``  — ``steps/<id>/wait`` and ``inbox/next``: the first read
  waits on the mount's poller, later reads return the same answer.
* ``ClaimHandle``     — the claim was decided in ``open``/``create``; what is
  written is ignored but bounded.
* ``TextWriter``      — status, handoff, memory values, outbox messages: one
  open file is one value, sent whole by the ``write()`` that ends it (so a
  failure is that write's error, which bash's builtin ``echo`` reports: it
  ignores ``close``), or at ``flush`` after writes of whole blocks.
* ``ArtifactWriter``  — spooled to a private temporary file, uploaded by the
  ``write()`` that ends a small file, else at ``flush`` (any size);
  ``ArtifactReader`` reads ranges in blocks.
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
#: what writers that have more to send write at a time, or a multiple of it
BLOCK = 4096
#: an artifact of at most this many bytes is uploaded by the write that ends
#: it; a larger one at ``close()``
SMALL_UPLOAD = 1 << 20
#: artifacts are read from the store in blocks this big (sequential readers)
READ_BLOCK = 4 << 20

#: makes a committed write known (its event): called once per open file
Announce = Callable[[], None]
#: sends a text to the bucket; what it returns announces that commit
Commit = Callable[[str], Awaitable[Announce | None]]
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
    def __init__(self, ino: int, data: bytes, *, mtime: float | None = None) -> None:
        super().__init__(ino)
        self.data = data
        #: when the content was written, if its record says
        self.mtime = mtime

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


def is_last_write(off: int, size: int) -> bool:
    """Whether a write is taken as the last of an open file's: one that ends on
    a multiple of ``BLOCK`` is one of several (pipes, ``cp``, stdio and
    buffered writers send whole blocks while more is coming)."""
    return (off + size) % BLOCK != 0


class TextWriter(Handle):
    """One open file is one value: its writes make one text, committed whole.

    A write that ends the text (``is_last_write``) commits inside ``write()``, so
    its failure is the write's error, which bash's builtin ``echo`` reports (it
    ignores ``close()``); a write of whole blocks is kept until such a write
    or ``flush``.  The commit function amends what the same open file
    committed before (one history entry, one message); what it returns
    announces the commit (its event), once, at ``flush``, so an open file is
    one event however many writes it took.  A write that fails (too large,
    not UTF-8, refused, the store's error) leaves the open file failed: it
    commits nothing more, and nothing at all if it had committed nothing.

    ``base`` loads the current content when a write does not start from an
    empty file (a write past offset 0 without ``O_TRUNC``).  With ``append``
    (``O_APPEND``) the handle holds only its own bytes, and each commit is
    handed the text not yet committed, to append to the value as it is then.
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
        # a new file has no earlier content; an append adds to the value as it is
        self.loaded = created or append
        self.committed = False
        #: written since the last commit
        self.dirty = False
        #: characters of the text committed so far (``append``: never sent again)
        self._sent = 0
        self.failed: TcfsError | None = None
        self._announce: Announce | None = None
        self._lock = trio.Lock()
        self.truncated = created
        self.pending_size = 0

    async def _load(self) -> None:
        if not self.loaded and self._base is not None:
            self.buf = bytearray(await self._base())
        self.loaded = True

    async def read(self, off: int, size: int) -> bytes:
        return bytes(self.buf[off : off + size])

    async def truncate(self, size: int) -> None:
        async with self._lock:
            if size == 0:
                self.buf = bytearray()
                self.loaded = True
                self.truncated = True
                self._sent = 0
            else:
                await self._load()
                del self.buf[size:]
            self.pending_size = len(self.buf)
            # an empty file never committed is the empty set at ``release``
            self.dirty = bool(size) or self.committed

    async def write(self, off: int, buf: bytes) -> int:
        async with self._lock:
            await self._failing(self._write(off, buf))
            return len(buf)

    async def _write(self, off: int, buf: bytes) -> None:
        if self.failed is not None:
            raise self.failed
        if not self.loaded and off > 0:
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
        self.dirty = True
        if is_last_write(off, len(buf)):
            await self._send()

    async def _failing(self, step: Awaitable[None]) -> None:
        """Run ``step``; its error fails the open file for good."""
        try:
            await step
        except TcfsError as exc:
            self.failed = exc
            raise

    async def _send(self) -> None:
        """Commit what was written since the last commit."""
        if not self.dirty:
            return
        text = self.text()
        self._announce = await self._commit(text[self._sent :] if self._append else text)
        self._sent = len(text)
        self.committed = True
        self.dirty = False

    def text(self) -> str:
        try:
            return bytes(self.buf).decode()
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{self.what} must be UTF-8 text", cause=exc) from exc

    def _announce_once(self) -> None:
        announce, self._announce = self._announce, None
        if announce is not None:
            announce()

    async def flush(self) -> None:
        # A failed write was the error; close() reports nothing more, and
        # commits nothing it kept.
        async with self._lock:
            if self.failed is None:
                await self._failing(self._send())
            self._announce_once()

    async def release(self) -> None:
        async with self._lock:
            try:
                if self.failed is None:
                    # ``: > memory/x`` writes nothing: an emptied value is still
                    # a set.  Not at ``flush``: bash's ``echo v > f`` opens,
                    # dup2()s and closes the first descriptor (a flush) before
                    # it writes, so a flush-time empty set would publish an
                    # empty value and a bogus history entry before the real one.
                    if not self.committed and self.truncated and self._commit_empty:
                        self.dirty = True
                    await self._send()
            except TcfsError as exc:
                log.log(exc.level, "%s: commit at close failed: %s", self.what, exc)
            self._announce_once()


class ArtifactWriter(Handle):
    """Spool locally, upload whole.

    A write that ends the file (``is_last_write``) of at most ``SMALL_UPLOAD``
    bytes uploads inside ``write()``, so bash's builtin ``echo`` sees its
    failure (it ignores ``close()``); anything else is uploaded at ``flush``
    (``cp``, ``tar`` check ``close()``).  A new file is uploaded empty at its
    first close, so it exists at once (``touch``, an empty file of ``tar``);
    should its content fail to upload, that empty object is removed again
    (``discard``): a failed write leaves nothing.  An existing file emptied
    by ``O_TRUNC`` keeps its content until something replaces it.  A failed
    write fails the open file: it uploads nothing more.

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
        discard: Callable[[], Awaitable[None]] | None = None,
        created: bool = False,
        new: bool = False,
        append: bool = False,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(ino)
        self._on_release = on_release
        self._spool: BinaryIO = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115
        self._upload = upload
        self._download = download
        self._discard = discard
        self._append = append
        self.loaded = created
        self.dirty = new
        #: emptied by ``O_TRUNC``: uploaded empty at ``release`` if nothing was
        self._emptied = created and not new
        #: the empty object the first close of a new file uploaded
        self._placeholder = False
        self.uploaded = False
        self.failed: TcfsError | None = None
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
        if self.failed is not None:
            raise self.failed
        if not self.loaded:
            await self._load()
        if self._append:
            off = self.pending_size or 0

        def put() -> None:
            try:
                os.pwrite(self._spool.fileno(), buf, off)
            except OSError as exc:  # the spool's disk: ENOSPC as itself
                raise TcfsError(
                    f"cannot spool the artifact: {exc.strerror}", errno=exc.errno
                ) from exc

        await trio.to_thread.run_sync(put)
        self.pending_size = max(self.pending_size or 0, off + len(buf))
        self.dirty = True
        if is_last_write(off, len(buf)) and self.pending_size <= SMALL_UPLOAD:
            await self._send()
        return len(buf)

    async def read(self, off: int, size: int) -> bytes:
        await self._load()
        return await trio.to_thread.run_sync(os.pread, self._spool.fileno(), size, off)

    async def _send(self) -> None:
        """Upload the spool if it changed; a failure fails the open file and
        removes the empty object it made."""
        if not self.dirty:
            return
        size = self.pending_size or 0
        self._spool.seek(0)
        try:
            await self._upload(self._spool, size)
        except TcfsError as exc:
            self.failed = exc
            if self._placeholder and self._discard is not None:
                await self._discard_placeholder()
            raise
        self._placeholder = size == 0 and not self.uploaded
        self.uploaded = True
        self.dirty = False

    async def _discard_placeholder(self) -> None:
        assert self._discard is not None
        try:
            await self._discard()
        except TcfsError as exc:
            log.log(exc.level, "could not remove the empty artifact of a failed write: %s", exc)

    async def flush(self) -> None:
        if self.failed is None:  # else the failed write was the error
            await self._send()

    async def release(self) -> None:
        try:
            if self.failed is None:
                self.dirty = self.dirty or (self._emptied and not self.uploaded)
                await self._send()
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

"""Tail an append-mostly JSONL file by whole lines, with a ``FileCursor``.

Only whole lines leave this module: a last line without its newline waits for
the next read.  Lines of any length are allowed (a line longer than the chunk
size is read to its end).  A malformed line is just bytes to us and passes
through.  The file may be a plain file or a compressed archive of the same
content (``opener``), which is read as a forward-only stream.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import BinaryIO

from tcfs.mirror.cursor import HEAD_BYTES, REPLAY, TAIL_BYTES, Cursor, FileCursor, digest

MAX_CHUNK = 8 << 20  # bytes read per call, rounded up to the end of a line
STEP = 1 << 20

Opener = Callable[[str], BinaryIO]


class _Source:
    """Random reads over a plain file (pread) or forward reads over a stream."""

    def __init__(self, path: str, opener: Opener | None) -> None:
        self.path = path
        self.opener = opener
        self.fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self.fd)
        self.dev, self.ino, self.size = st.st_dev, st.st_ino, st.st_size
        self.stream: BinaryIO | None = None
        self.pos = 0

    @property
    def compressed(self) -> bool:
        return self.opener is not None

    def read_at(self, offset: int, n: int) -> bytes:
        if n <= 0:
            return b""
        if not self.compressed:
            out = bytearray()
            while len(out) < n:
                got = os.pread(self.fd, n - len(out), offset + len(out))
                if not got:
                    break
                out += got
            return bytes(out)
        if self.stream is None or offset < self.pos:
            self._reopen()
        assert self.stream is not None
        while self.pos < offset:  # forward-only: skip by reading
            got = self.stream.read(min(STEP, offset - self.pos))
            if not got:
                return b""
            self.pos += len(got)
        out = bytearray()
        while len(out) < n:
            got = self.stream.read(n - len(out))
            if not got:
                break
            out += got
        self.pos += len(out)
        return bytes(out)

    def _reopen(self) -> None:
        if self.stream is not None:
            self.stream.close()
        assert self.opener is not None
        self.stream = self.opener(self.path)
        self.pos = 0

    def crc_of_prefix(self, n: int) -> int | None:
        """CRC-32 of bytes [0, n), or None when the source is shorter."""
        crc, done = 0, 0
        while done < n:
            chunk = self.read_at(done, min(STEP, n - done))
            if not chunk:
                return None
            crc = zlib.crc32(chunk, crc)
            done += len(chunk)
        return crc

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        os.close(self.fd)


def _continues(src: _Source, c: FileCursor, head: bytes) -> bool:
    """Is the content the cursor consumed still the start of this source?"""
    if c.offset == 0:
        return True
    if len(head) < c.head_len or digest(head[: c.head_len]) != c.head_hash:
        return False
    if not src.compressed and (src.dev, src.ino) == (c.dev, c.ino):
        if src.size < c.offset:
            return False  # truncated
        lo = max(0, c.offset - TAIL_BYTES)
        return digest(src.read_at(lo, c.offset - lo)) == c.tail_hash
    # Another file (renamed, copied, compressed): compare every byte we consumed.
    return src.crc_of_prefix(c.offset) == c.crc


def _whole_lines(src: _Source, start: int, limit: int) -> bytes:
    """Bytes from ``start`` up to the last newline within ``limit`` bytes; a line
    longer than ``limit`` is read to its end; no newline at all gives b""."""
    buf = bytearray(src.read_at(start, limit))
    cut = buf.rfind(b"\n")
    while cut < 0:
        more = src.read_at(start + len(buf), STEP)
        if not more:
            return b""  # a partial last line waits for its newline
        nl = more.find(b"\n")
        if nl >= 0:
            buf += more[: nl + 1]
            return bytes(buf)
        buf += more
    return bytes(buf[: cut + 1])


def read_lines(
    path: str,
    cursor: Cursor | None,
    *,
    opener: Opener | None = None,
    max_bytes: int = MAX_CHUNK,
) -> tuple[bytes, Cursor]:
    """New whole lines of ``path`` after ``cursor`` and the cursor just past them.

    When the file no longer continues what the cursor consumed (truncated,
    rewritten, replaced), reading restarts at 0 and the returned cursor carries
    ``_replay`` until the old length is passed, so the engine can drop records
    it already mirrored.
    """
    c = FileCursor.from_dict(cursor)
    src = _Source(path, opener)
    try:
        head = src.read_at(0, HEAD_BYTES)
        if _continues(src, c, head):
            start, crc, replay_until = c.offset, c.crc, c.replay_until
        else:
            start, crc = 0, 0
            replay_until = (1 << 62) if src.compressed else max(src.size, c.offset)
        replaying = replay_until is not None and start < replay_until
        limit = max_bytes
        if replaying and replay_until is not None:
            limit = max(1, min(max_bytes, replay_until - start))
        data = _whole_lines(src, start, limit)
        end = start + len(data)
        if not data and start == c.offset and start > 0:
            # Nothing new: keep the hashes, note where the content lives now.
            same = FileCursor(**{**vars(c), "dev": src.dev, "ino": src.ino})
            if replay_until is None or src.compressed:
                same.replay_until = None
            return b"", same.to_dict()
        if replay_until is not None and (end >= replay_until or (not data and src.compressed)):
            replay_until = None
        prefix = (head[:start] + data)[:HEAD_BYTES] if start < HEAD_BYTES else head
        head_len = min(HEAD_BYTES, end)
        tail_lo = max(0, end - TAIL_BYTES)
        if tail_lo >= start:
            tail = data[tail_lo - start :]
        else:
            tail = src.read_at(tail_lo, start - tail_lo) + data
        new = FileCursor(
            offset=end,
            dev=src.dev,
            ino=src.ino,
            crc=zlib.crc32(data, crc),
            head_len=head_len,
            head_hash=digest(prefix[:head_len]),
            tail_hash=digest(tail),
            replay_until=replay_until,
        ).to_dict()
        if replaying and data:
            new[REPLAY] = True
        return data, new
    finally:
        src.close()

"""Cursors: how far a stream has been mirrored, in whatever unit its source has.

A cursor is a JSON object (it lives in the local state file and survives
restarts).  ``kind`` says which shape it has:

* ``file``: a byte offset just past the last whole line consumed, plus the
  file's identity ``(dev, ino)``, a CRC-32 of every byte before the offset, and
  hashes of the first 4 KiB and of the bytes just before the offset.  A
  rotated, truncated or rewritten file is detected and re-read from 0; if the
  old content is a prefix of the new file (a rename, a copy, a compressed
  archive) reading simply continues at the offset.
* ``rows``: a high-water mark over a table (a rowid, a ``seq``, or a
  ``(time_updated, id)`` window); the adapter that owns it defines the fields.

Keys starting with ``_`` are per-read signals from an adapter to the engine
(``_replay``: the bytes just returned are a re-read, drop records already
mirrored); the engine removes them before it stores the cursor.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

Cursor = dict[str, Any]

HEAD_BYTES = 4096  # the head hash covers this much of a file
TAIL_BYTES = 256  # and the tail hash this much before the offset

REPLAY = "_replay"


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class FileCursor:
    offset: int = 0
    dev: int = 0
    ino: int = 0
    crc: int = 0  # zlib.crc32 of bytes [0, offset)
    head_len: int = 0
    head_hash: str = ""
    tail_hash: str = ""  # of bytes [max(0, offset - TAIL_BYTES), offset)
    replay_until: int | None = None  # re-reading after a rewrite, up to this offset

    kind = "file"

    def to_dict(self) -> Cursor:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Cursor | None) -> FileCursor:
        if not data or data.get("kind") != cls.kind:
            return cls()
        c = cls()
        for name in ("offset", "dev", "ino", "crc", "head_len"):
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(c, name, value)
        for name in ("head_hash", "tail_hash"):
            if isinstance(data.get(name), str):
                setattr(c, name, data[name])
        ru = data.get("replay_until")
        c.replay_until = ru if isinstance(ru, int) and not isinstance(ru, bool) else None
        return c


def rows_cursor(**fields: Any) -> Cursor:
    return {"kind": "rows", **fields}


def position(cursor: Cursor | None) -> int:
    """One number that grows with the cursor (meta.json's ``cursor_range``)."""
    if not cursor:
        return 0
    for name in ("offset", "last", "seq", "hw"):
        value = cursor.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return 0


def persistent(cursor: Cursor) -> Cursor:
    """The cursor without per-read signals."""
    return {k: v for k, v in cursor.items() if not k.startswith("_")}

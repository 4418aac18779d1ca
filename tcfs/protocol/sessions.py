"""Mirrored session transcripts in the bucket: the reader the mount uses and
the writer the mirror uses.

Layout (shared with the ``tracecraft`` CLI)::

    sessions/<harness>/<session_id>/part-NNNNN-<uuid8>.jsonl   immutable chunks
    sessions/<harness>/<session_id>/meta.json                  the session's index

The transcript is the concatenation of the parts in ``seq`` order.  A part is
written once, with ``If-None-Match``, and never changed, so a reader may cache
parts forever and only needs one LIST to learn that a session grew.

``meta.json`` carries the CLI's fields; ``parts`` keeps only the newest
:data:`META_RECENT_PARTS` entries (``part_count`` says how many there are), so
the record stays small however long a session runs.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

from tcfs.errors import CorruptObject, InvalidArgument, InvalidName, NotFound, PreconditionFailed
from tcfs.protocol import records
from tcfs.protocol.keys import (
    MAX_SEQ,
    META_LEAF,
    PART_RE,
    SESSIONS_ROOT,
    child_name,
    harness_prefix,
    meta_key,
    parse_part_seq,
    part_key,
    session_prefix,
)
from tcfs.store.base import CommonPrefix, ObjectInfo, Store

META_SCHEMA_VERSION = 1
META_RECENT_PARTS = 20

__all__ = [
    "MAX_SEQ",
    "META_LEAF",
    "META_RECENT_PARTS",
    "META_SCHEMA_VERSION",
    "PART_RE",
    "SESSIONS_ROOT",
    "Part",
    "SessionReader",
    "SessionWriter",
    "add_part_to_meta",
    "check_name",
    "meta_key",
    "new_meta",
    "parse_part_seq",
    "part_key",
]

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def check_name(kind: str, name: object) -> str:
    """A harness name or session id: one key segment, no surprises."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in (".", ".."):
        raise InvalidName(f"{kind} {name!r} must match [A-Za-z0-9][A-Za-z0-9_.-]{{0,199}}")
    return name


# ---------------------------------------------------------------- reader


@dataclass(frozen=True)
class Part:
    key: str
    seq: int
    size: int
    offset: int  # offset of this part within the concatenated transcript


class SessionReader:
    """Read-only view of ``sessions/`` for the filesystem: cheap LISTs, ranged GETs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _prefixes(self, prefix: str) -> list[str]:
        out = []
        for entry in self.store.list(prefix, delimiter="/"):
            if isinstance(entry, CommonPrefix):
                name = child_name(prefix, entry.prefix)
                if _NAME_RE.fullmatch(name):
                    out.append(name)
        return out

    def harnesses(self) -> list[str]:
        """Harness names with at least one mirrored object (one delimited LIST)."""
        return self._prefixes(SESSIONS_ROOT)

    def sessions(self, harness: str) -> list[str]:
        """Session ids of one harness (one delimited LIST)."""
        check_name("harness", harness)
        return self._prefixes(harness_prefix(harness))

    def parts(self, harness: str, session_id: str) -> list[Part]:
        """The session's parts in seq order with their transcript offsets (one LIST)."""
        check_name("harness", harness)
        check_name("session id", session_id)
        found: list[tuple[int, str, int]] = []
        prefix = session_prefix(harness, session_id)
        for entry in self.store.list(prefix):
            if not isinstance(entry, ObjectInfo) or "/" in entry.key[len(prefix) :]:
                continue
            seq = parse_part_seq(entry.key)
            if seq is not None:
                found.append((seq, entry.key, entry.size))
        found.sort()
        out: list[Part] = []
        offset = 0
        for seq, key, size in found:
            out.append(Part(key=key, seq=seq, size=size, offset=offset))
            offset += size
        return out

    def read(self, parts: list[Part], offset: int, size: int) -> bytes:
        """Bytes ``[offset, offset+size)`` of the concatenation, by ranged GETs of
        only the parts that overlap the range."""
        if offset < 0 or size <= 0 or not parts:
            return b""
        end = offset + size
        starts = [p.offset for p in parts]
        i = max(0, bisect.bisect_right(starts, offset) - 1)
        chunks: list[bytes] = []
        for part in parts[i:]:
            if part.offset >= end:
                break
            lo = max(offset, part.offset) - part.offset
            hi = min(end, part.offset + part.size) - part.offset
            if hi <= lo:
                continue
            blob = self.store.get(part.key, byte_range=(lo, hi - lo))
            chunks.append(blob.body[: hi - lo])
            if len(blob.body) < hi - lo:
                break  # the part is shorter than listed: never return a hole
        return b"".join(chunks)


# ---------------------------------------------------------------- writer


class SessionWriter:
    """Writes one session stream: immutable parts and its ``meta.json``.

    The mirror decides *what* goes into a part; this class only knows keys,
    conditional creates and the meta record's shape.  Temporary failures are
    retried by the store, by its policy, and nowhere else.
    """

    def __init__(self, store: Store, harness: str, session_id: str) -> None:
        self.store = store
        self.harness = check_name("harness", harness)
        self.session_id = check_name("session id", session_id)
        self.prefix = session_prefix(harness, session_id)
        self.meta_key = meta_key(harness, session_id)

    def new_part_key(self, seq: int) -> str:
        return part_key(self.harness, self.session_id, seq)

    def next_seq(self) -> int:
        """One past the highest part seq in the bucket (one LIST)."""
        top = -1
        for key in self.store.keys(self.prefix):
            seq = parse_part_seq(key)
            if seq is not None and "/" not in key[len(self.prefix) :]:
                top = max(top, seq)
        return top + 1

    def part_size(self, key: str) -> int | None:
        """The size of an uploaded part, or None when it is not in the bucket."""
        try:
            return self.store.head(key).size
        except NotFound:
            return None

    def put_part(self, key: str, body: bytes) -> None:
        """Create a part.  Re-sending the same bytes to the same key (a retry, or
        recovery after a crash) is not an error; different bytes there are."""
        if not key.startswith(self.prefix) or parse_part_seq(key) is None:
            raise InvalidArgument(f"{key!r} is not a part key of {self.prefix}")

        try:
            self.store.put(key, body, if_none_match=True)
        except PreconditionFailed:
            size = self.part_size(key)
            if size != len(body):
                raise PreconditionFailed(
                    f"{key} already exists with {size} bytes, not the {len(body)} being written"
                ) from None

    def read_meta(self) -> dict[str, Any] | None:
        try:
            blob = self.store.get(self.meta_key)
        except NotFound:
            return None
        try:
            return records.decode(blob.body, self.meta_key)
        except CorruptObject:
            return None

    def write_meta(self, meta: dict[str, Any]) -> None:
        body = records.encode(meta)
        self.store.put(self.meta_key, body)


def new_meta(harness: str, session_id: str) -> dict[str, Any]:
    """An empty meta record with every field the CLI reads."""
    return {
        "schema_version": META_SCHEMA_VERSION,
        "harness": harness,
        "session_id": session_id,
        "source_path": None,
        "cwd": None,
        "agent_id": None,
        "started_at": None,
        "last_uploaded_at": None,
        "ended_at": None,
        "total_source_bytes": 0,
        "total_uploaded_bytes": 0,
        "redaction_counts": {},
        "parts": [],
        "part_count": 0,
    }


def add_part_to_meta(meta: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Account one uploaded part in a meta record (in place; also returned)."""
    now = records.now_iso()
    meta["started_at"] = meta.get("started_at") or now
    meta["last_uploaded_at"] = now
    meta["ended_at"] = None  # new data: the session is live again
    meta["total_source_bytes"] = int(meta.get("total_source_bytes") or 0) + int(
        entry.get("source_bytes", 0)
    )
    meta["total_uploaded_bytes"] = int(meta.get("total_uploaded_bytes") or 0) + int(
        entry.get("uploaded_bytes", 0)
    )
    counts = dict(meta.get("redaction_counts") or {})
    for kind, n in (entry.get("redactions") or {}).items():
        counts[kind] = int(counts.get(kind, 0)) + int(n)
    meta["redaction_counts"] = counts
    parts = [*list(meta.get("parts") or []), {**entry, "uploaded_at": now}]
    meta["parts"] = parts[-META_RECENT_PARTS:]
    meta["part_count"] = int(meta.get("part_count") or 0) + 1
    return meta

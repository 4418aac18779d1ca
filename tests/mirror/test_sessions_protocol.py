"""SessionReader and SessionWriter against every backend."""

from __future__ import annotations

import json
import random

import pytest

from tcfs.errors import InvalidArgument, InvalidName, PreconditionFailed
from tcfs.protocol.sessions import (
    META_RECENT_PARTS,
    Part,
    SessionReader,
    SessionWriter,
    add_part_to_meta,
    new_meta,
    parse_part_seq,
    part_key,
)


def _write_parts(store, harness: str, sid: str, bodies: list[bytes]) -> list[str]:
    w = SessionWriter(store, harness, sid)
    keys = []
    for body in bodies:
        key = w.new_part_key(w.next_seq())
        w.put_part(key, body)
        keys.append(key)
    return keys


def test_parts_and_ranged_reads_equal_the_concatenation(store) -> None:
    rng = random.Random(7)
    bodies = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(7)]
    keys = _write_parts(store, "claude-code", "s1", bodies)
    SessionWriter(store, "claude-code", "s1").write_meta(new_meta("claude-code", "s1"))
    whole = b"".join(bodies)

    reader = SessionReader(store)
    parts = reader.parts("claude-code", "s1")
    assert [p.key for p in parts] == keys  # ordered by seq, meta.json left out
    assert [p.seq for p in parts] == list(range(7))
    assert [p.offset for p in parts] == [sum(len(b) for b in bodies[:i]) for i in range(7)]
    assert sum(p.size for p in parts) == len(whole)

    assert reader.read(parts, 0, len(whole)) == whole
    for _ in range(60):
        off = rng.randrange(len(whole) + 5)
        size = rng.randrange(1, 400)
        assert reader.read(parts, off, size) == whole[off : off + size]
    assert reader.read(parts, len(whole), 10) == b""
    assert reader.read([], 0, 10) == b""


def test_harnesses_and_sessions_are_one_level_listings(store) -> None:
    _write_parts(store, "codex", "a", [b"x\n"])
    _write_parts(store, "codex", "b", [b"y\n"])
    _write_parts(store, "hermes", "20260501_100000_a1b2c3", [b"z\n"])
    reader = SessionReader(store)
    assert reader.harnesses() == ["codex", "hermes"]
    assert reader.sessions("codex") == ["a", "b"]
    assert reader.sessions("gemini") == []
    with pytest.raises(InvalidName):
        reader.sessions("../x")


def test_read_only_gets_the_overlapping_parts(local_store) -> None:
    keys = _write_parts(local_store, "codex", "s", [b"aaaa", b"bbbb", b"cccc"])
    reader = SessionReader(local_store)
    parts = reader.parts("codex", "s")
    # remove the first and last part: a read of the middle must not need them
    for k in (keys[0], keys[2]):
        local_store.delete(k)
    assert reader.read(parts, 5, 2) == b"bb"
    assert reader.read(parts, 4, 4) == b"bbbb"


def test_put_part_is_create_only_and_idempotent(store) -> None:
    w = SessionWriter(store, "codex", "s")
    key = w.new_part_key(0)
    w.put_part(key, b"one\n")
    w.put_part(key, b"one\n")  # the same bytes again: a retry, not an error
    with pytest.raises(PreconditionFailed):
        w.put_part(key, b"different\n")
    assert store.get(key).body == b"one\n"
    assert w.next_seq() == 1
    assert w.part_size(key) == 4
    assert w.part_size(w.new_part_key(1)) is None


def test_part_keys_match_the_cli_pattern() -> None:
    key = part_key("claude-code", "abc", 42)
    assert key.startswith("sessions/claude-code/abc/part-00042-")
    assert parse_part_seq(key) == 42
    assert parse_part_seq("sessions/x/y/meta.json") is None
    with pytest.raises(InvalidArgument):  # a sequence number is a bad value, not a bad name
        part_key("claude-code", "abc", 100_000)
    with pytest.raises(InvalidName):
        SessionWriter(None, "a/b", "s")  # type: ignore[arg-type]


def test_meta_parts_stay_small() -> None:
    meta = new_meta("codex", "s")
    for i in range(500):
        add_part_to_meta(
            meta,
            {
                "seq": i,
                "uuid": "0" * 8,
                "cursor_range": [i, i + 1],
                "source_bytes": 10,
                "uploaded_bytes": 11,
                "redactions": {"jwt": 1} if i % 2 else {},
            },
        )
    assert meta["part_count"] == 500
    assert len(meta["parts"]) == META_RECENT_PARTS
    assert meta["parts"][-1]["seq"] == 499
    assert meta["total_source_bytes"] == 5000
    assert meta["total_uploaded_bytes"] == 5500
    assert meta["redaction_counts"] == {"jwt": 250}
    assert len(json.dumps(meta)) < 8000


def test_part_dataclass_is_frozen() -> None:
    p = Part(key="k", seq=0, size=1, offset=0)
    with pytest.raises(AttributeError):
        p.size = 2  # type: ignore[misc]

"""Whole-line tailing: partial lines, long lines, bad lines, rotation and rewrites."""

from __future__ import annotations

import base64
import json
import os

import zstandard

from tcfs.mirror.tail import MAX_CHUNK, read_lines
from tests.support.mirroring import Homes, expected, mirror_once, transcript
from tests.support.sessions import ClaudeSession, CodexSession, append, claude_line


def test_partial_last_line_waits(tmp_path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_bytes(b'{"a":1}\n{"b":')
    data, cur = read_lines(str(p), None)
    assert data == b'{"a":1}\n'
    data2, cur2 = read_lines(str(p), cur)
    assert data2 == b"" and cur2["offset"] == cur["offset"]
    append(p, b"2}\n")
    data3, cur3 = read_lines(str(p), cur2)
    assert data3 == b'{"b":2}\n'
    assert cur3["offset"] == p.stat().st_size


def test_lines_longer_than_a_chunk(tmp_path) -> None:
    p = tmp_path / "s.jsonl"
    blob = base64.b64encode(os.urandom(MAX_CHUNK * 3 // 4 + 12345)).decode()
    line = json.dumps({"type": "image", "data": blob}).encode() + b"\n"
    assert len(line) > MAX_CHUNK
    p.write_bytes(b'{"a":1}\n' + line[:-100])
    first, cur = read_lines(str(p), None)
    assert first == b'{"a":1}\n'
    append(p, line[-100:] + b'{"z":0}\n')
    second, cur = read_lines(str(p), cur)
    assert second == line  # one line, read to its end, nothing after it yet
    third, _ = read_lines(str(p), cur)
    assert third == b'{"z":0}\n'


def test_rewritten_file_is_read_again_without_duplicates(homes: Homes, local_store) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(5)
    mirror_once(local_store, "claude-code", homes.project)
    lines = s.path.read_bytes().splitlines(keepends=True)

    # 1. replaced by a copy that continues the old content (new inode): only the new line
    extra = claude_line(s.sid, s.cwd, 5)
    tmp = s.path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(lines) + extra)
    os.replace(tmp, s.path)
    assert mirror_once(local_store, "claude-code", homes.project) == 1
    assert transcript(local_store, "claude-code", s.sid) == b"".join(lines) + extra

    # 2. rewritten with a changed first record: that record and the new one go up, nothing else
    changed = (
        json.dumps({"type": "summary", "summary": "migrated", "leafUuid": "x"}).encode() + b"\n"
    )
    newest = claude_line(s.sid, s.cwd, 6)
    tmp.write_bytes(changed + b"".join(lines[1:]) + extra + newest)
    os.replace(tmp, s.path)
    mirror_once(local_store, "claude-code", homes.project)
    assert (
        transcript(local_store, "claude-code", s.sid) == b"".join(lines) + extra + changed + newest
    )

    # 3. truncated in place and written anew
    fresh = claude_line(s.sid, s.cwd, 7) + claude_line(s.sid, s.cwd, 8)
    with open(s.path, "r+b") as f:
        f.truncate(0)
        f.write(fresh)
    mirror_once(local_store, "claude-code", homes.project)
    got = transcript(local_store, "claude-code", s.sid)
    assert got == b"".join(lines) + extra + changed + newest + fresh
    assert len(got.splitlines()) == len(set(got.splitlines()))

    # 4. nothing new: nothing uploaded
    assert mirror_once(local_store, "claude-code", homes.project) == 0


def test_malformed_line_in_the_middle_passes_through(homes: Homes, local_store) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(2)
    # a writer killed mid-line, then the next append lands on the same line
    append(s.path, b'{"type":"user","message":{"content":"trunc' + claude_line(s.sid, s.cwd, 2))
    append(s.path, b"\x00\xff not json at all\n")
    s.n = 3
    s.add(2)
    mirror_once(local_store, "claude-code", homes.project)
    assert transcript(local_store, "claude-code", s.sid) == expected(s.path.read_bytes())


def test_codex_compression_is_a_rename_not_new_data(homes: Homes, local_store) -> None:
    codex = homes.home / ".codex"
    s = CodexSession(codex, homes.project)
    s.add(6)
    assert mirror_once(local_store, "codex", homes.project) == 1
    before = transcript(local_store, "codex", s.sid)
    assert before == expected(s.path.read_bytes())

    # the idle rollout is compressed and the plain file deleted
    zst = s.path.with_name(s.path.name + ".zst")
    zst.write_bytes(zstandard.ZstdCompressor().compress(s.path.read_bytes()))
    raw = s.path.read_bytes()
    s.path.unlink()
    assert mirror_once(local_store, "codex", homes.project) == 0
    assert transcript(local_store, "codex", s.sid) == before

    # resume materializes a plain file again (new inode) and appends
    s.path.write_bytes(raw)
    s.add(3)
    assert mirror_once(local_store, "codex", homes.project) == 1
    assert transcript(local_store, "codex", s.sid) == expected(s.path.read_bytes())


def test_codex_archive_never_seen_before_is_read(homes: Homes, local_store) -> None:
    codex = homes.home / ".codex"
    s = CodexSession(codex, homes.project)
    s.add(4)
    raw = s.path.read_bytes()
    s.path.with_name(s.path.name + ".zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    s.path.unlink()
    assert mirror_once(local_store, "codex", homes.project) == 1
    assert transcript(local_store, "codex", s.sid) == expected(raw)

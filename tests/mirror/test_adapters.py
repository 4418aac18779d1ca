"""Each harness: real on-disk formats in, byte-for-byte redacted transcripts out."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tcfs.mirror import adapters
from tcfs.mirror.adapters.claude_code import encode_cwd
from tests.support.mirroring import Homes, expected, mirror_once, transcript
from tests.support.sessions import (
    ClaudeSession,
    CodexSession,
    append,
    claude_line,
    gemini_chat,
    gemini_lines,
    hermes_db,
    hermes_expected,
    hermes_message,
    openclaw_db,
    openclaw_lines,
    opencode_db,
)
from tests.support.stores import make_store


def test_registry_has_the_six_harnesses() -> None:
    assert adapters.names() == ["claude-code", "codex", "gemini", "hermes", "openclaw", "opencode"]
    with pytest.raises(KeyError):
        adapters.get("nope")


def _hash36(s: str) -> str:
    # independent restatement: JS int32 arithmetic, code points, first UTF-16 unit
    x = 0
    for ch in s:
        c = ord(ch) if ord(ch) < 0x10000 else 0xD800 + ((ord(ch) - 0x10000) >> 10)
        x = (x * 31 + c) % (1 << 32)
    x = abs(x - (1 << 32) if x >= 1 << 31 else x)
    digits = ""
    while True:
        x, r = divmod(x, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
        if not x:
            return digits


def test_claude_folder_encoding() -> None:
    assert encode_cwd("/home/u/my_app.v2") == "-home-u-my-app-v2"
    assert encode_cwd("C:\\x") == "C--x"
    assert encode_cwd("/tmp/caf\u00e9 \U0001f389") == "-tmp-caf----"  # é is one unit, 🎉 two
    long = "/w/" + "a_b" * 80
    enc = encode_cwd(long)
    assert len(long) > 200
    assert enc == long.replace("/", "-").replace("_", "-")[:200] + "-" + _hash36(long)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_claude_code(homes: Homes, request, monkeypatch, backend: str) -> None:
    store = make_store(backend, request)
    config = homes.home / "claude-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    s = ClaudeSession(config, homes.project)
    s.add(3, text="my key is AKIAIOSFODNN7EXAMPLE")
    append(s.path, claude_line(s.sid, s.cwd, 3)[:-20])  # partial last line
    sub = s.subagent("a1b2c3")
    sub.write_bytes(claude_line(s.sid, s.cwd, 100) + claude_line(s.sid, s.cwd, 101))
    other = ClaudeSession(config, homes.project.parent)  # another project: not ours
    other.add(2)

    refs = adapters.get("claude-code").discover(homes.project)
    assert {r.session_id for r in refs} == {s.sid, f"{s.sid}__agent-a1b2c3"}
    assert [r.parent_id for r in refs if r.session_id != s.sid] == [s.sid]

    assert mirror_once(store, "claude-code", homes.project) == 2
    assert transcript(store, "claude-code", s.sid) == expected(s.path.read_bytes())
    assert transcript(store, "claude-code", f"{s.sid}__agent-a1b2c3") == sub.read_bytes()
    append(s.path, claude_line(s.sid, s.cwd, 3)[-20:])
    s.n = 4
    s.add(2)
    mirror_once(store, "claude-code", homes.project)
    got = transcript(store, "claude-code", s.sid)
    assert got == expected(s.path.read_bytes())
    assert b"AKIA" not in got
    assert [k for k in store.keys("sessions/claude-code/") if other.sid in k] == []
    store.close()


def test_claude_code_long_path_and_default_home(homes: Homes, local_store) -> None:
    deep = homes.project / ("x" * 120) / ("y_z" * 40)
    deep.mkdir(parents=True)
    enc = "".join(c if c.isascii() and c.isalnum() else "-" for c in str(deep))[:200]
    folder = homes.home / ".claude" / "projects" / f"{enc}-{_hash36(str(deep))}"
    folder.mkdir(parents=True)
    path = folder / "11111111-2222-3333-4444-555555555555.jsonl"
    path.write_bytes(claude_line("11111111-2222-3333-4444-555555555555", str(deep), 0))
    refs = adapters.get("claude-code").discover(deep)
    assert [r.source for r in refs] == [str(path)]
    mirror_once(local_store, "claude-code", deep)
    assert transcript(local_store, "claude-code", path.stem) == path.read_bytes()


def test_codex(homes: Homes, local_store, monkeypatch) -> None:
    home = homes.home / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    ours = CodexSession(home, homes.project)
    ours.add(7)
    append(ours.path, b'{"timestamp":"2026-05-01T10:01:00.000Z","type":"event_')
    theirs = CodexSession(home, homes.project.parent, day="2026/05/02")
    theirs.add(3)
    refs = adapters.get("codex").discover(homes.project)
    assert [r.session_id for r in refs] == [ours.sid]
    assert refs[0].cwd == str(homes.project)
    mirror_once(local_store, "codex", homes.project)
    assert transcript(local_store, "codex", ours.sid) == expected(ours.path.read_bytes())
    assert not list(local_store.keys(f"sessions/codex/{theirs.sid}/"))


def test_gemini(homes: Homes, local_store, monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_CLI_HOME", str(homes.home))
    path, sid = gemini_chat(homes.home, homes.project)
    path.write_bytes(gemini_lines(sid, 0, 9) + b'{"$set":{"lastUpd')
    sub = path.parent / sid / "b0b0b0b0-aaaa-bbbb-cccc-dddddddddddd.jsonl"
    sub.parent.mkdir()
    sub.write_bytes(
        json.dumps(
            {"sessionId": "b0b0b0b0-aaaa-bbbb-cccc-dddddddddddd", "kind": "subagent"}
        ).encode()
        + b"\n"
    )
    mirror_once(local_store, "gemini", homes.project)
    assert transcript(local_store, "gemini", sid) == expected(path.read_bytes())
    sub_id = f"{sid}__b0b0b0b0-aaaa-bbbb-cccc-dddddddddddd"
    assert transcript(local_store, "gemini", sub_id) == sub.read_bytes()
    append(path, b'ated":"2026-04-18T10:31:00.000Z"}}\n' + gemini_lines(sid, 9, 4))
    mirror_once(local_store, "gemini", homes.project)
    got = transcript(local_store, "gemini", sid)
    assert got == path.read_bytes()  # $set and $rewindTo records mirrored as written
    assert got.count(b'"$rewindTo"') == 3


def test_openclaw_jsonl(homes: Homes, local_store, monkeypatch) -> None:
    state = homes.home / "oc-state"
    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(state))
    d = state / "agents" / "main" / "sessions"
    d.mkdir(parents=True)
    sid = "b7300bff-a214-4c11-97ae-eab26883c67a"
    path = d / f"{sid}.jsonl"
    path.write_bytes(openclaw_lines(sid, str(homes.project), 0, 6) + b'{"type":"mess')
    (d / "sessions.json").write_text(json.dumps({"agent:main:main": {"sessionId": sid}}))
    mirror_once(local_store, "openclaw", homes.project)
    assert transcript(local_store, "openclaw", f"main__{sid}") == expected(path.read_bytes())


def _writer(fn, stop: threading.Event, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            i = 0
            while not stop.is_set():
                fn(i)
                i += 1
                time.sleep(0.003)
        except BaseException as exc:  # surfaced by the test
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _mirror_while_writing(store, harness: str, cwd: Path, write, rounds: int = 15) -> None:
    stop, errors = threading.Event(), []
    t = _writer(write, stop, errors)
    try:
        for _ in range(rounds):
            mirror_once(store, harness, cwd)
            time.sleep(0.02)
    finally:
        stop.set()
        t.join(10)
    assert not errors, errors
    mirror_once(store, harness, cwd)


def test_openclaw_sqlite_while_writing_and_after_migration(
    homes: Homes, local_store, monkeypatch
) -> None:
    state = homes.home / "oc-state"
    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(state))
    sid = "c0ffee00-a214-4c11-97ae-eab26883c67a"
    # before the migration: a JSONL transcript, mirrored
    d = state / "agents" / "main" / "sessions"
    d.mkdir(parents=True)
    lines = openclaw_lines(sid, str(homes.project), 0, 5)
    (d / f"{sid}.jsonl").write_bytes(lines)
    mirror_once(local_store, "openclaw", homes.project)
    stream = f"main__{sid}"
    assert transcript(local_store, "openclaw", stream) == lines

    # the migration imports it into SQLite; the agent keeps writing there
    dbp = openclaw_db(state)
    conn = sqlite3.connect(dbp, timeout=10, isolation_level=None, check_same_thread=False)
    for seq, line in enumerate(lines.splitlines()):
        conn.execute(
            "INSERT INTO transcript_events VALUES (?,?,?,?)",
            (sid, seq, line.decode(), 1775610223107 + seq),
        )

    def write(i: int) -> None:
        seq = 5 + i
        line = openclaw_lines(sid, str(homes.project), seq, 1).decode().strip()
        conn.execute(
            "INSERT INTO transcript_events VALUES (?,?,?,?)", (sid, seq, line, 1775610223107 + seq)
        )

    _mirror_while_writing(local_store, "openclaw", homes.project, write)
    rows = conn.execute(
        "SELECT event_json FROM transcript_events WHERE session_id=? ORDER BY seq", (sid,)
    ).fetchall()
    conn.close()
    want = b"".join(r[0].encode() + b"\n" for r in rows)
    assert len(rows) > 10
    assert transcript(local_store, "openclaw", stream) == want  # the import was not uploaded twice


def test_hermes_while_writing(homes: Homes, local_store, monkeypatch) -> None:
    home = homes.home / "hermes home?#%x"  # the read-only URI must escape all of these
    monkeypatch.setenv("HERMES_HOME", str(home))
    dbp = hermes_db(home)
    sid = "20260501_100000_a1b2c3"
    conn = sqlite3.connect(dbp, timeout=10, isolation_level=None, check_same_thread=False)
    conn.execute(
        "INSERT INTO sessions(id, source, model, started_at, cwd, last_activity_at)"
        " VALUES (?,?,?,?,?,?)",
        (sid, "cli", "anthropic/claude-sonnet-4.6", 1777629600.1, str(homes.project), 1777629600.1),
    )
    conn.execute(
        "INSERT INTO sessions(id, source, started_at, cwd) VALUES ('other','cli',1.0,'/elsewhere')"
    )
    hermes_message(conn, sid, 0, content="token: ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    hermes_message(conn, "other", 1)
    hermes_message(
        conn, sid, 2, content="\x00json:" + json.dumps([{"type": "text", "text": "multi"}])
    )

    def write(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        hermes_message(conn, sid, 3 + i)
        conn.execute("COMMIT")
        if i % 25 == 0:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    _mirror_while_writing(local_store, "hermes", homes.project, write)
    want = hermes_expected(dbp, sid)
    conn.close()
    got = transcript(local_store, "hermes", sid)
    assert len(want.splitlines()) > 10
    assert got.count(b"\n") == want.count(b"\n")
    # content stored as \x00json: is decoded, as tracecraft does
    assert b'"content": [{"type": "text", "text": "multi"}]' in got
    assert got == expected(
        want.replace(
            json.dumps("\x00json:" + json.dumps([{"type": "text", "text": "multi"}])).encode(),
            json.dumps([{"type": "text", "text": "multi"}]).encode(),
        )
    )
    assert b"ghp_" not in got
    assert not list(local_store.keys("sessions/hermes/other/"))


def test_opencode_rows_updated_in_place(homes: Homes, local_store, monkeypatch) -> None:
    data_home = homes.home / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    dbp = opencode_db(data_home)
    conn = sqlite3.connect(dbp, timeout=10, isolation_level=None, check_same_thread=False)
    now = int(time.time() * 1000)
    conn.execute(
        "INSERT INTO session VALUES ('ses_1','prj',NULL,'s',?,'t','1.2.0',?,?)",
        (str(homes.project), now, now),
    )
    conn.execute(
        "INSERT INTO session VALUES ('ses_2','prj',NULL,'s','/elsewhere','t','1.2.0',?,?)",
        (now, now),
    )
    clock = [now]

    def tick() -> int:
        clock[0] += 1
        return clock[0]

    def write(i: int) -> None:
        t = tick()
        mid = f"msg_{i // 3:04d}"
        conn.execute("BEGIN IMMEDIATE")
        if i % 3 == 0:
            conn.execute(
                "INSERT INTO message VALUES (?,?,?,?,?)",
                (mid, "ses_1", t, t, json.dumps({"role": "assistant", "time": {"created": t}})),
            )
            conn.execute(
                "INSERT INTO part VALUES (?,?,?,?,?,?)",
                (
                    f"prt_{i:05d}",
                    mid,
                    "ses_1",
                    t,
                    t,
                    json.dumps({"type": "tool", "tool": "bash", "state": {"status": "pending"}}),
                ),
            )
        else:
            status = "running" if i % 3 == 1 else "completed"
            conn.execute(
                "UPDATE part SET time_updated=?, data=? WHERE id=?",
                (
                    t,
                    json.dumps({"type": "tool", "tool": "bash", "state": {"status": status}}),
                    f"prt_{i - i % 3:05d}",
                ),
            )
            if status == "completed":
                conn.execute(
                    "UPDATE message SET time_updated=?, data=? WHERE id=?",
                    (
                        t,
                        json.dumps({"role": "assistant", "time": {"created": t, "completed": t}}),
                        mid,
                    ),
                )
        conn.execute("COMMIT")

    _mirror_while_writing(local_store, "opencode", homes.project, write)
    got = [json.loads(line) for line in transcript(local_store, "opencode", "ses_1").splitlines()]
    versions = [(d["type"], d["id"], d["time_updated"]) for d in got]
    assert len(versions) == len(set(versions))  # every version once
    last = {}
    for d in got:
        last[(d["type"], d["id"])] = d
    for table in ("message", "part"):
        rows = conn.execute(
            f"SELECT id, time_updated, data FROM {table} WHERE session_id='ses_1'"
        ).fetchall()
        assert len(rows) > 3
        for rid, tu, data in rows:
            assert last[(table, rid)]["time_updated"] == tu
            assert last[(table, rid)]["data"] == json.loads(data)
    assert {d["state"]["status"] for d in (x["data"] for x in got if x["type"] == "part")} == {
        "pending",
        "running",
        "completed",
    }
    conn.close()
    assert not list(local_store.keys("sessions/opencode/ses_2/"))

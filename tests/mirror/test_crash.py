"""No record lost or repeated across kills, restarts and concurrent mirrors."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tcfs.mirror import adapters
from tcfs.mirror.engine import StreamMirror
from tcfs.store.local import LocalStore
from tests.support.mirroring import Homes, expected, mirror_once, tcfs_cmd, transcript
from tests.support.sessions import ClaudeSession, hermes_db, hermes_expected, hermes_message


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


class CrashingStore(LocalStore):
    """A real local store that dies around the first part upload."""

    def __init__(self, root: Path, project: str, when: str) -> None:
        super().__init__(root, project)
        self.when = when  # "before-put" or "after-put"
        self.armed = True

    def put(self, key: str, body: bytes, **kw):  # type: ignore[no-untyped-def]
        is_part = "/part-" in key
        if self.armed and is_part and self.when == "before-put":
            self.armed = False
            raise Crash
        etag = super().put(key, body, **kw)
        if self.armed and is_part and self.when == "after-put":
            self.armed = False
            raise Crash  # the upload landed, the process died before committing
        return etag


@pytest.mark.parametrize("when", ["before-put", "after-put"])
def test_crash_window_is_closed(homes: Homes, when: str) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(4)
    adapter = adapters.get("claude-code")
    (ref,) = adapter.discover(homes.project)
    dying = StreamMirror(CrashingStore(homes.bucket, "proj", when), adapter, ref)
    with pytest.raises(Crash):
        dying.step()
    dying.files.unlock()  # the kernel drops the lock of a dead process

    s.add(2)
    store = LocalStore(homes.bucket, "proj")
    fresh = StreamMirror(store, adapter, ref)
    fresh.step()
    fresh.release()
    assert transcript(store, "claude-code", s.sid) == s.path.read_bytes()
    keys = [k for k in store.keys(f"sessions/claude-code/{s.sid}/") if "/part-" in k]
    assert [k.rsplit("/", 1)[1][:10] for k in keys] == ["part-00000", "part-00001"]
    meta = json.loads(store.get(f"sessions/claude-code/{s.sid}/meta.json").body)
    assert meta["part_count"] == 2
    assert meta["total_source_bytes"] == len(s.path.read_bytes())


def test_lost_state_is_rebuilt_from_the_bucket(homes: Homes, local_store) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(3)
    mirror_once(local_store, "claude-code", homes.project)
    s.add(2)
    mirror_once(local_store, "claude-code", homes.project)
    for p in homes.state.iterdir():
        p.unlink()
    s.add(1)
    mirror_once(local_store, "claude-code", homes.project)
    assert transcript(local_store, "claude-code", s.sid) == s.path.read_bytes()
    # and when meta.json is gone too, lines already in the bucket are not sent again
    for p in homes.state.iterdir():
        p.unlink()
    local_store.delete(f"sessions/claude-code/{s.sid}/meta.json")
    s.add(1)
    mirror_once(local_store, "claude-code", homes.project)
    assert transcript(local_store, "claude-code", s.sid) == s.path.read_bytes()


def test_two_projects_are_two_streams(homes: Homes) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(3)
    p1, p2 = LocalStore(homes.bucket, "p1"), LocalStore(homes.bucket, "p2")
    assert mirror_once(p1, "claude-code", homes.project) == 1
    assert mirror_once(p2, "claude-code", homes.project) == 1
    assert transcript(p2, "claude-code", s.sid) == s.path.read_bytes()
    states = [p for p in homes.state.iterdir() if p.suffix == ".json"]
    assert len(states) == 2
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in homes.state.iterdir())
    assert oct(homes.state.stat().st_mode & 0o777) == "0o700"


def test_a_second_mirror_of_the_same_stream_stands_aside(homes: Homes, local_store) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(3)
    adapter = adapters.get("claude-code")
    (ref,) = adapter.discover(homes.project)
    first = StreamMirror(local_store, adapter, ref)
    assert first.acquire()
    second = StreamMirror(LocalStore(homes.bucket, "proj"), adapter, ref)
    assert not second.acquire()
    assert second.step() == 0
    first.step()
    first.release()
    assert second.step() == 0  # now it may run, and finds nothing new
    second.release()
    assert transcript(local_store, "claude-code", s.sid) == s.path.read_bytes()


def _follow(homes: Homes, harness: str) -> subprocess.Popen[bytes]:
    args = [
        "--follow",
        "--harness",
        harness,
        "--cwd",
        str(homes.project),
        "--bucket",
        str(homes.bucket),
        "--project",
        "proj",
        "--interval",
        "0.02",
    ]
    return subprocess.Popen(
        tcfs_cmd(*args),
        cwd=homes.project,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


def _kill_loop(homes: Homes, harness: str, write, rounds: int = 6) -> None:
    """Keep writing while mirrors are SIGKILLed at random moments and restarted;
    two mirrors of the same stream run at once the whole time."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set():
                write(i)
                i += 1
                time.sleep(random.uniform(0.0, 0.01))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    rng = random.Random(1)
    procs = [_follow(homes, harness), _follow(homes, harness)]
    try:
        for _ in range(rounds):
            time.sleep(rng.uniform(0.2, 0.8))
            victim = rng.randrange(2)
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            procs[victim] = _follow(homes, harness)
    finally:
        stop.set()
        t.join(10)
        for p in procs:
            p.kill()
            p.wait(10)
    assert not errors, errors
    done = subprocess.run(
        tcfs_cmd(
            "--once",
            "--harness",
            harness,
            "--cwd",
            str(homes.project),
            "--bucket",
            str(homes.bucket),
            "--project",
            "proj",
        ),
        cwd=homes.project,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_sigkill_and_restart_jsonl(homes: Homes, local_store) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(1)

    def write(i: int) -> None:
        line = s.add(1, text=f"line {i} " + "x" * random.randrange(0, 3000))
        del line

    _kill_loop(homes, "claude-code", write)
    raw = s.path.read_bytes()
    got = transcript(local_store, "claude-code", s.sid)
    assert got == expected(raw)
    assert len(got.splitlines()) == s.n > 20


@pytest.mark.slow
def test_sigkill_and_restart_sqlite(homes: Homes, local_store, monkeypatch) -> None:
    home = homes.home / ".hermes"
    dbp = hermes_db(home)
    sid = "20260501_100000_a1b2c3"
    conn = sqlite3.connect(dbp, timeout=10, isolation_level=None, check_same_thread=False)
    conn.execute(
        "INSERT INTO sessions(id, source, started_at, cwd) VALUES (?,?,?,?)",
        (sid, "cli", 1777629600.1, str(homes.project)),
    )
    hermes_message(conn, sid, 0)

    def write(i: int) -> None:
        hermes_message(conn, sid, i + 1)

    _kill_loop(homes, "hermes", write)
    want = hermes_expected(dbp, sid)
    conn.close()
    got = transcript(local_store, "hermes", sid)
    assert got == expected(want)
    assert len(got.splitlines()) > 20

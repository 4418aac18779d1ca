"""``tcfs mirror``: flags, auto, follow + SIGTERM, idle cost, and the tracecraft CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tcfs.mirror.runner import Runner
from tcfs.store.local import LocalStore
from tests.support.mirroring import Homes, expected, run_mirror, tcfs_cmd, transcript
from tests.support.s3server import S3_ENV
from tests.support.sessions import ClaudeSession, CodexSession, hermes_db, hermes_message


def _local(homes: Homes) -> list[str]:
    return ["--bucket", str(homes.bucket), "--project", "proj"]


def test_auto_finds_the_harnesses_of_the_cwd(homes: Homes) -> None:
    c = ClaudeSession(homes.home / ".claude", homes.project)
    c.add(2)
    x = CodexSession(homes.home / ".codex", homes.project)
    x.add(3)
    elsewhere = CodexSession(homes.home / ".codex", homes.project.parent)
    elsewhere.add(1)
    r = run_mirror([*_local(homes)], cwd=homes.project)
    assert r.returncode == 0, r.stderr
    store = LocalStore(homes.bucket, "proj")
    assert transcript(store, "claude-code", c.sid) == c.path.read_bytes()
    assert transcript(store, "codex", x.sid) == expected(x.path.read_bytes())
    assert not list(store.keys(f"sessions/codex/{elsewhere.sid}/"))


def test_clear_errors(homes: Homes) -> None:
    r = run_mirror([*_local(homes)], cwd=homes.project)
    assert r.returncode != 0 and "no agent session found" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_mirror(["--harness", "nope", *_local(homes)], cwd=homes.project)
    assert r.returncode == 2 and "is not one of" in r.stderr
    r = run_mirror(["--harness", "codex", *_local(homes)], cwd=homes.project)
    assert r.returncode == 1 and "no codex session found" in r.stderr
    r = run_mirror(["--interval", "0", "--follow", *_local(homes)], cwd=homes.project)
    assert r.returncode == 2 and "--interval" in r.stderr
    assert "Traceback" not in r.stderr


def test_session_id_and_all(homes: Homes) -> None:
    old = ClaudeSession(homes.home / ".claude", homes.project)
    old.add(2)
    os.utime(old.path, (time.time() - 3600, time.time() - 3600))
    new = ClaudeSession(homes.home / ".claude", homes.project)
    new.add(1)
    store = LocalStore(homes.bucket, "proj")
    assert (
        run_mirror(["--harness", "claude-code", *_local(homes)], cwd=homes.project).returncode == 0
    )
    assert session_ids(store) == {new.sid}  # the active session only
    r = run_mirror(
        ["--session-id", old.sid, "--harness", "claude-code", *_local(homes)], cwd=homes.project
    )
    assert r.returncode == 0, r.stderr
    assert session_ids(store) == {new.sid, old.sid}
    other = ClaudeSession(homes.home / ".claude", homes.project)
    other.add(1)
    os.utime(other.path, (time.time() - 60, time.time() - 60))
    assert run_mirror(["--all", *_local(homes)], cwd=homes.project).returncode == 0
    assert session_ids(store) == {new.sid, old.sid, other.sid}


def session_ids(store: LocalStore) -> set[str]:
    from tcfs.protocol.sessions import SessionReader

    return set(SessionReader(store).sessions("claude-code"))


def _wait(cond, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize(
    # each waits out a rediscovery (10 s): one in `make check`, both in `make test`
    "sig",
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
)
def test_follow_picks_up_new_sessions_and_stops_cleanly(homes: Homes, sig: int) -> None:
    first = ClaudeSession(homes.home / ".claude", homes.project)
    first.add(2)
    proc = subprocess.Popen(
        tcfs_cmd("--follow", "--harness", "claude-code", "--interval", "0.05", *_local(homes)),
        cwd=homes.project,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    store = LocalStore(homes.bucket, "proj")
    try:
        _wait(lambda: transcript(store, "claude-code", first.sid) == first.path.read_bytes())
        first.add(3)
        _wait(lambda: transcript(store, "claude-code", first.sid) == first.path.read_bytes())
        second = ClaudeSession(homes.home / ".claude", homes.project)  # /new: a new session
        second.add(1)
        # found at the next rediscovery (every 10 s)
        _wait(lambda: session_ids(store) == {first.sid, second.sid}, timeout=40)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    meta = json.loads(store.get(f"sessions/claude-code/{first.sid}/meta.json").body)
    assert meta["ended_at"] is not None
    assert meta["part_count"] >= 2


class CountingStore(LocalStore):
    """A real local store that counts the requests made to it."""

    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self.calls = 0

    def get(self, *a, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().get(*a, **kw)

    def head(self, *a, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().head(*a, **kw)

    def put(self, *a, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().put(*a, **kw)

    def list(self, *a, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().list(*a, **kw)


@pytest.mark.parametrize("harness", ["claude-code", "hermes"])
def test_an_idle_followed_session_costs_no_bucket_request(homes: Homes, harness: str) -> None:
    if harness == "claude-code":
        s = ClaudeSession(homes.home / ".claude", homes.project)
        s.add(3)
        sid = s.sid
    else:
        dbp = hermes_db(homes.home / ".hermes")
        sid = "20260501_100000_a1b2c3"
        import sqlite3

        conn = sqlite3.connect(dbp, isolation_level=None)
        conn.execute(
            "INSERT INTO sessions(id, source, started_at, cwd) VALUES (?,?,?,?)",
            (sid, "cli", 1.0, str(homes.project)),
        )
        hermes_message(conn, sid, 0)
        conn.close()
    store = CountingStore(homes.bucket, "proj")
    runner = Runner(store, [harness], cwd=homes.project, echo=lambda _m: None, rediscover=3600)
    stop = threading.Event()
    t = threading.Thread(target=runner.run_follow, args=(0.01, stop), daemon=True)
    t.start()
    try:
        _wait(
            lambda: bool(list(LocalStore(homes.bucket, "proj").keys(f"sessions/{harness}/{sid}/")))
        )
        time.sleep(0.3)
        before = store.calls
        time.sleep(1.0)  # about a hundred idle intervals
        assert store.calls == before
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()
    assert store.calls == before + 1  # the ended_at stamp


@pytest.mark.interop
def test_tracecraft_reads_what_tcfs_mirrored(
    homes: Homes, tracecraft, moto_server, s3_bucket: str
) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(6, text="see AKIAIOSFODNN7EXAMPLE")
    s.add(1, text="the very last line")
    env = {**os.environ, **S3_ENV}
    for _ in range(2):  # two parts
        r = subprocess.run(
            tcfs_cmd(
                "--harness",
                "claude-code",
                "--backend",
                "s3",
                "--endpoint",
                moto_server.endpoint,
                "--bucket",
                s3_bucket,
                "--project",
                "proj",
            ),
            cwd=homes.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        s.add(1, text="one more")

    listed = tracecraft("cli-agent", "session", "list")
    assert listed.returncode == 0, listed.stderr
    assert "claude-code" in listed.stdout and s.sid[:8] in listed.stdout

    shown = tracecraft("cli-agent", "session", "show", s.sid, "--tail", "2")
    assert shown.returncode == 0, shown.stderr
    meta_text, _, tail = shown.stdout.partition("--- tail ---")
    meta = json.loads(meta_text)
    assert meta["session_id"] == s.sid and meta["harness"] == "claude-code"
    assert meta["redaction_counts"] == {"aws_access_key": 6}
    tail_lines = [json.loads(x) for x in tail.strip().splitlines()]
    assert len(tail_lines) == 2
    assert tail_lines[-1]["message"]["content"][0]["text"] == "one more"
    assert "AKIA" not in shown.stdout


def test_state_files_are_private(homes: Homes) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(1)
    assert run_mirror(_local(homes), cwd=homes.project).returncode == 0
    files = list(Path(homes.state).iterdir())
    assert files
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)

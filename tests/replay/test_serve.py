"""``tcfs replay --serve``: a loopback server that keeps the page live."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcfs.protocol import Project
from tcfs.protocol.events.writer import EventWriter
from tcfs.store.local import LocalStore
from tests.replay.scenario import mirror_once, say
from tests.support.procs import stop
from tests.support.sessions import ClaudeSession


@pytest.fixture
def served(tmp_path: Path, tcfs_home: Path) -> Iterator[tuple[LocalStore, list[str], str]]:
    root = tmp_path / "bucket"
    store = LocalStore(root, "proj")
    backend = ["--backend", "local", "--bucket", str(root)]
    w = EventWriter(store, "alice")
    w.emit("agent-up")
    assert w.flush()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tcfs",
            "replay",
            "--serve",
            "127.0.0.1:0",
            "--project",
            "proj",
            *backend,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "serving http://127.0.0.1:PORT/ ..."
        assert line.startswith("serving http://127.0.0.1:"), line + (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        )
        yield store, backend, line.split()[1]
    finally:
        stop(proc)


def test_the_served_page_follows_new_events_and_lines(served, viewer, tmp_path: Path) -> None:
    store, backend, url = served
    config, work = tmp_path / "claude", tmp_path / "work"
    work.mkdir()
    session = ClaudeSession(config, work)
    say(session, "first line of the session")
    mirror_once(config, work, "alice", backend, dict(os.environ))

    v = viewer(url)
    v.page.wait_for_function("() => document.getElementById('live').textContent === 'live'")
    assert any("alice is up" in r for r in v.rows())

    bob, log = Project(store, "bob"), EventWriter(store, "bob")
    claim = bob.steps.claim("api")
    log.emit("claim", "api", epoch=claim.epoch, lease_s=claim.lease_ttl_s)
    assert log.flush()
    v.wait_row("list", "bob claimed api")
    assert "bob" in v.lanes()

    # the server's session index catches up every few seconds
    v.page.wait_for_function("() => document.querySelectorAll('#t-session option').length > 1")
    v.click_row("alice is up")
    v.page.wait_for_selector("#transcript .row")
    assert any("first line" in t for t in v.transcript())
    say(session, "a line written while the page is open")
    mirror_once(config, work, "alice", backend, dict(os.environ))
    v.wait_row("transcript", "while the page is open")


def test_the_server_is_on_loopback_and_checks_the_host(served) -> None:
    _, _, url = served
    host_port = url.removeprefix("http://").rstrip("/")
    host, port = host_port.split(":")
    assert host == "127.0.0.1"
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/poll?after=0", headers={"Host": "attacker.example:80"})
    assert conn.getresponse().status == 421
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/poll?after=0")
    resp = conn.getresponse()
    assert resp.status == 200 and b"alice" in resp.read()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/session/999")
    assert conn.getresponse().status == 404

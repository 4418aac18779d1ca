"""Hostile bucket content renders as text and breaks nothing; ``--verify``
names a forged or edited event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tcfs.protocol import Project, keys
from tcfs.protocol.events.writer import EventWriter
from tcfs.store.base import ObjectInfo
from tcfs.store.local import LocalStore
from tests.replay.scenario import mirror_once, replay_page, say, tool_call
from tests.support.sessions import ClaudeSession

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


@pytest.fixture
def local(tmp_path: Path) -> tuple[LocalStore, list[str]]:
    root = tmp_path / "bucket"
    return LocalStore(root, "proj"), ["--backend", "local", "--bucket", str(root)]


def verify_cli(backend: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", "replay", "--verify", "--project", "proj", *backend],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def hostile_project(store: LocalStore) -> None:
    bob, log = Project(store, "bob"), EventWriter(store, "bob")
    msg = bob.messages.send("alice", SCRIPT)
    log.emit("send", "alice", text=msg.text, key=msg.key)
    val = bob.memory.set(("ui", "banner"), IMG)
    log.emit("memory-set", "ui.banner", value=val.value, set_at=val.set_at)
    huge = "h" * (1 << 20)
    val = bob.memory.set(("ui", "huge"), huge)
    log.emit("memory-set", "ui.huge", value=val.value, size=len(huge), set_at=val.set_at)
    claim = bob.steps.claim("api")
    log.emit("claim", "api", epoch=claim.epoch, lease_s=claim.lease_ttl_s)
    assert log.flush()
    # malformed objects beside the real ones
    store.put("messages/alice/1700000000000000000_mallory_deadbeef.json", b"{not json")
    store.put(keys.event_batch_key("mallory"), b'{"events": [{"id": 1}]}')
    store.put(keys.memory_history_prefix(("x", "y")) + "1_z_00000000.json", b"[1, 2")


def forge(store: LocalStore) -> None:
    """Rewrite bob's message event to say something else (an edit)."""
    key = next(
        e.key
        for e in store.list(keys.EVENTS_ROOT)
        if isinstance(e, ObjectInfo) and "_bob_" in e.key
    )
    doc = json.loads(store.get(key).body)
    doc["events"][0]["detail"]["text"] = "nothing to see"
    store.put(key, json.dumps(doc).encode())


def test_hostile_content_is_shown_as_text(local, viewer, tmp_path: Path, tcfs_home) -> None:
    store, backend = local
    hostile_project(store)
    config, work = tmp_path / "claude", tmp_path / "work"
    work.mkdir()
    session = ClaudeSession(config, work)
    say(session, f"transcript says {IMG}")
    tool_call(session, f"Bash{SCRIPT}", {"command": f"echo '{SCRIPT}' {IMG}"})
    mirror_once(config, work, "bob", backend, dict(os.environ))

    page = replay_page(tmp_path / "r.html", backend, env=dict(os.environ))
    v = viewer(page.as_uri())
    text = v.list_text()
    assert f'bob sent alice "{SCRIPT}"' in text
    assert f'set memory ui.banner = "{IMG}"' in text
    huge_row = next(r for r in v.rows() if "ui.huge" in r)
    assert len(huge_row) < 400  # an excerpt, not a megabyte
    assert v.page.locator("#list img, #list script, #lanes img").count() == 0
    v.click_row("ui.banner")
    v.page.wait_for_selector("#transcript .row.sel")
    assert any(IMG in line for line in v.transcript())
    # a tool call named and given markup: its name, input and raw line as text
    call = v.page.locator("#transcript .role-tool_call").first
    assert call.locator(".tool").inner_text() == f"Bash{SCRIPT}"
    call.locator("summary").click()
    assert SCRIPT in call.locator(".text").inner_text()
    call.locator(".raw-btn").click()
    assert (
        IMG
        in json.loads(call.locator(".raw").inner_text())["message"]["content"][0]["input"][
            "command"
        ]
    )
    assert v.page.locator("#transcript img, #transcript script").count() == 0
    assert "alert(2)" in v.detail() and v.page.locator("#detail img").count() == 0
    # the malformed batch is named, the rest is shown
    assert v.page.locator("#problems").is_visible()
    assert "malformed" in v.page.inner_text("#problems") or "missing" in v.page.inner_text(
        "#problems"
    )


def test_verify_names_a_forged_event(local, viewer, tmp_path: Path, tcfs_home) -> None:
    store, backend = local
    bob, log = Project(store, "bob"), EventWriter(store, "bob")
    for text in ("one", "two"):
        msg = bob.messages.send("alice", text)
        log.emit("send", "alice", text=msg.text, key=msg.key)
    assert log.flush()
    clean = verify_cli(backend)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "bob: 2 event(s), chain intact" in clean.stdout

    forge(store)
    broken = verify_cli(backend)
    assert broken.returncode == 1
    assert "edited: bob: event #0" in broken.stdout, broken.stdout
    assert "FAIL: 1 problem(s)" in broken.stdout

    # the page says so too, and still shows the forged text as text
    v = viewer(replay_page(tmp_path / "r.html", backend, env=dict(os.environ)).as_uri())
    assert "event #0" in v.page.inner_text("#problems")
    assert 'bob sent alice "nothing to see"' in v.list_text()


def test_verify_on_an_empty_project(local: Any) -> None:
    out = verify_cli(local[1])
    assert out.returncode == 0 and "no events in the log" in out.stdout

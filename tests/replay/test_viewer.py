"""The replay page in a real headless Chromium: a project written by two
agents through the protocol (with their event logs), the real ``tracecraft``
CLI and a session mirrored by the real mirror, rendered by ``tcfs replay``.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcfs.protocol import Project
from tcfs.protocol.events import EventWriter
from tcfs.store.s3 import S3Store
from tests.conftest import make_store
from tests.mirror.harnesses import ClaudeSession
from tests.protocol.test_protocol_interop import ok
from tests.replay.scenario import mirror_once, replay_page, say

pytestmark = pytest.mark.interop


@pytest.fixture
def s3(request: pytest.FixtureRequest) -> Iterator[S3Store]:
    store = make_store("s3", request)
    yield store
    store.close()


@pytest.fixture
def backend_args(moto_server, s3_bucket) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--backend", "s3", "--endpoint", moto_server.endpoint, "--bucket", s3_bucket]


def two_agents_and_the_cli(s3: S3Store, tracecraft: Any) -> None:
    """What two mounts and the CLI do, each mount logging as the mount does."""
    alice, log_a = Project(s3, "alice", lease_ttl=5), EventWriter(s3, "alice")
    later = time.time() + 60  # bob's clock is past alice's lease: a takeover
    bob, log_b = Project(s3, "bob", clock=lambda: later), EventWriter(s3, "bob")
    log_a.emit("agent-up")
    log_b.emit("agent-up")
    ok(tracecraft("carol", "memory", "set", "design.db", "sqlite"))
    claim = alice.steps.claim("api")
    log_a.emit("claim", "api", epoch=claim.epoch, lease_s=claim.lease_ttl_s)
    msg = alice.messages.send("bob", "api skeleton is up")
    log_a.emit("send", "bob", text=msg.text, key=msg.key)
    taken = bob.steps.claim("api")
    log_b.emit("takeover", "api", epoch=taken.epoch, lease_s=taken.lease_ttl_s, **{"from": "alice"})
    val = bob.memory.set(("design", "db"), "postgres")
    log_b.emit("memory-set", "design.db", value=val.value, old="sqlite", set_at=val.set_at)
    bob.steps.handoff("api", note="api done; tests in tests/api", next_agent="alice")
    log_b.emit("handoff", "api", epoch=taken.epoch, note="api done; tests in tests/api")
    body = b"x" * 1234
    alice.artifacts.upload("shared", "report.txt", io.BytesIO(body), len(body))
    log_a.emit("artifact-put", "shared/report.txt", size=len(body))
    ok(tracecraft("carol", "send", "alice", "from the cli: review please"))
    log_a.emit("agent-down")
    assert log_a.flush() and log_b.flush()


def test_the_page_shows_the_whole_project(
    s3, tracecraft, backend_args, viewer, tmp_path: Path, tcfs_home: Path
) -> None:
    env = dict(os.environ)
    config, work = tmp_path / "claude", tmp_path / "work"
    work.mkdir()
    session = ClaudeSession(config, work)
    say(session, "alice reads the spec before claiming")
    two_agents_and_the_cli(s3, tracecraft)
    say(session, "alice writes the report")
    mirror_once(config, work, "alice", backend_args, env)

    page = replay_page(tmp_path / "replay.html", backend_args, env=env)
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    v = viewer(page.as_uri())

    assert v.lanes() == ["alice", "bob", "carol"]
    text = v.list_text()
    for expected in (
        'alice sent bob "api skeleton is up"',
        'carol sent alice "from the cli: review please" [tracecraft CLI]',
        'carol set memory design.db = "sqlite" [tracecraft CLI]',
        'bob set memory design.db = "sqlite" → "postgres"',
        'bob handed off api (complete): "api done; tests in tests/api"',
        "alice uploaded artifact shared/report.txt (1.2 KB)",
        "bob took over api from alice",
    ):
        assert expected in text, f"{expected!r} not shown:\n{text}"
    assert v.page.locator("#problems").is_hidden()

    # an event opens the agent's transcript around it, and its JSON
    v.click_row("alice claimed api")
    v.page.wait_for_selector("#transcript .row.sel")
    assert "alice reads the spec" in " ".join(v.transcript())
    doc = json.loads(v.detail())
    assert doc["kind"] == "claim" and doc["agent"] == "alice" and len(doc["hash"]) == 64

    # and a transcript line selects the event nearest in time
    v.page.locator("#transcript .row", has_text="alice writes the report").click()
    v.page.wait_for_function(
        "() => !document.getElementById('detail').textContent.includes('\"claim\"')"
    )
    assert json.loads(v.detail())["agent"] == "alice"

    # search and filters change what is shown
    total = len(v.rows())
    v.search("postgres")
    assert v.rows() and all("postgres" in r for r in v.rows()) and len(v.rows()) < total
    v.search("")
    v.filter("agent", "carol")
    assert v.rows() and all(r.split(" ")[1] == "carol" for r in v.rows())
    v.filter("agent", "")
    v.filter("kind", "handoff")
    (row,) = v.rows()
    assert " bob handed off api " in row


def test_the_scrubber_replays_in_time(s3, tracecraft, backend_args, viewer, tmp_path) -> None:
    two_agents_and_the_cli(s3, tracecraft)
    page = replay_page(
        tmp_path / "replay.html", backend_args, "--no-transcripts", env=dict(os.environ)
    )
    v = viewer(page.as_uri())
    total = len(v.rows())
    v.page.eval_on_selector(
        "#scrub", "el => { el.value = 1; el.dispatchEvent(new Event('input')); }"
    )
    v.page.wait_for_function(f"() => Number(document.body.dataset.shown) < {total}")
    early = len(v.rows())
    v.page.eval_on_selector(
        "#scrub", "el => { el.value = 1000; el.dispatchEvent(new Event('input')); }"
    )
    v.page.wait_for_function(f"() => Number(document.body.dataset.shown) === {total}")
    assert early < total


def test_filters_on_the_command_line(s3, tracecraft, backend_args, viewer, tmp_path) -> None:
    two_agents_and_the_cli(s3, tracecraft)
    env = dict(os.environ)
    page = replay_page(tmp_path / "bob.html", backend_args, "--agent", "bob", env=env)
    rows = viewer(page.as_uri()).rows()
    assert rows and all(" bob " in r for r in rows)
    page = replay_page(tmp_path / "future.html", backend_args, "--since", "2099-01-01", env=env)
    assert viewer(page.as_uri()).rows() == []

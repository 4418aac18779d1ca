"""The replay page's time scrubber and command-line filters in a real
headless Chromium, on a project two agents wrote through the protocol (each
with its event log, as a mount keeps one) beside the real ``tracecraft`` CLI.
The same story through real mounts is ``test_mounts_page.py``.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tcfs.protocol import Project
from tcfs.protocol.events.writer import EventWriter
from tcfs.store.s3 import S3Store
from tests.replay.scenario import replay_page
from tests.support.procs import ok
from tests.support.stores import make_store

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

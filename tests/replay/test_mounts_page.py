"""The whole story through real parts: two mounts driven with shell commands,
the real ``tracecraft`` CLI and a session mirrored by the real mirror, one
bucket on moto's S3; ``tcfs replay`` renders it and headless Chromium shows it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.replay.scenario import mirror_once, replay_page, say
from tests.support.mounts import Backend, detach, eventually, sh
from tests.support.procs import ok
from tests.support.sessions import ClaudeSession

pytestmark = [pytest.mark.interop, pytest.mark.mount]


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_two_mounts_the_cli_and_a_transcript_on_one_page(
    mount, backend: Backend, tracecraft, viewer, tmp_path: Path
) -> None:
    config, work = tmp_path / "claude", tmp_path / "work"
    work.mkdir()
    session = ClaudeSession(config, work)
    say(session, "alice reads the spec before claiming")

    ok(tracecraft("carol", "memory", "set", "design.db", "sqlite"))
    alice = mount("alice", lease_ttl=5)
    bob = mount("bob")
    report = tmp_path / "report.txt"
    report.write_bytes(b"r" * 1234)
    for cmd in (
        f"echo me > {alice.path}/steps/api/claim",
        f"echo 'api skeleton is up' > {alice.path}/outbox/bob",
        f"cp {report} {alice.path}/artifacts/shared/report.txt",
    ):
        assert sh(cmd).returncode == 0, cmd
    ok(tracecraft("carol", "send", "alice", "from the cli: review please"))
    say(session, "alice writes the report")
    mirror_once(config, work, "alice", backend.args, dict(os.environ))

    detach(alice.path, alice.proc)  # alice goes down; her 5 s lease runs out
    claim = f"echo me > {bob.path}/steps/api/claim"
    assert eventually(lambda: sh(claim).returncode == 0, timeout=30, step=0.5)
    for cmd in (
        f"echo postgres > {bob.path}/memory/design/db",
        f"echo 'api done; tests in tests/api' > {bob.path}/steps/api/handoff",
    ):
        assert sh(cmd).returncode == 0, cmd
    detach(bob.path, bob.proc)  # a clean unmount writes what is queued

    page = replay_page(tmp_path / "replay.html", [*backend.args], env=dict(os.environ))
    v = viewer(page.as_uri())
    assert v.lanes() == ["alice", "bob", "carol"]
    text = v.list_text()
    for expected in (
        "alice is up (mounted)",
        "alice claimed api (epoch",
        'alice sent bob "api skeleton is up"',
        "alice uploaded artifact shared/report.txt (1.2 KB)",
        'carol sent alice "from the cli: review please" [tracecraft CLI]',
        'carol set memory design.db = "sqlite" [tracecraft CLI]',
        "alice is down (unmounted)",
        "bob took over api from alice (epoch",
        'bob set memory design.db = "sqlite" → "postgres"',
        'bob handed off api (complete): "api done; tests in tests/api"',
    ):
        assert expected in text, f"{expected!r} not shown:\n{text}"
    assert v.page.locator("#problems").is_hidden()

    v.click_row("alice claimed api")
    v.page.wait_for_selector("#transcript .row.sel")
    assert any("alice reads the spec" in line for line in v.transcript())
    doc = json.loads(v.detail())
    assert doc["kind"] == "claim" and doc["agent"] == "alice" and len(doc["hash"]) == 64
    # and a transcript line selects the event nearest in time
    v.page.locator("#transcript .row", has_text="alice writes the report").click()
    v.page.wait_for_function(
        "() => !document.getElementById('detail').textContent.includes('\"claim\"')"
    )
    assert json.loads(v.detail())["agent"] == "alice"

    v.search("report")
    assert v.rows() and all("report" in r for r in v.rows())
    v.search("")
    v.filter("agent", "bob")
    assert v.rows() and all(" bob " in f" {r} " for r in v.rows())
    v.filter("agent", "")
    v.filter("kind", "handoff")
    (row,) = v.rows()
    assert " bob handed off api " in row

"""Events derived from what the real ``tracecraft`` CLI wrote, beside the log.

The CLI writes no events; its messages, memory history, claims, statuses and
handoffs become events marked ``cli``, and a record that tcfs logged itself is
never derived a second time.
"""

from __future__ import annotations

import pytest

from tcfs.protocol import Project
from tcfs.protocol.events.reader import EventTail, read_all
from tcfs.protocol.events.writer import EventWriter
from tcfs.store.s3 import S3Store
from tests.support.procs import ok
from tests.support.stores import make_store

pytestmark = pytest.mark.interop


def test_cli_records_become_events_and_logged_ones_are_not_repeated(request, tracecraft) -> None:
    s3: S3Store = make_store("s3", request)
    ok(tracecraft("bob", "send", "alice", "from the cli <b>bold</b>"))
    ok(tracecraft("bob", "memory", "set", "design.db", "postgres"))
    ok(tracecraft("bob", "claim", "parser"))
    ok(tracecraft("bob", "complete", "parser", "--note", "parser done", "--to", "alice"))

    alice = Project(s3, "alice")
    log = EventWriter(s3, "alice")
    msg = alice.messages.send("bob", "from the mount")
    log.emit("send", "bob", text=msg.text, key=msg.key)
    val = alice.memory.set(("design", "db"), "sqlite")
    log.emit("memory-set", "design.db", value=val.value, set_at=val.set_at)
    claim = alice.steps.claim("api")
    log.emit("claim", "api", epoch=claim.epoch, lease_s=claim.lease_ttl_s)
    assert log.flush()

    evs, problems = read_all(s3)
    assert problems == []
    seen = {(e.source, e.agent, e.kind, e.subject) for e in evs}
    assert ("cli", "bob", "send", "alice") in seen
    assert ("cli", "bob", "memory-set", "design.db") in seen
    assert ("cli", "bob", "claim", "parser") in seen
    assert ("cli", "bob", "status", "parser") in seen
    assert ("cli", "bob", "handoff", "parser") in seen
    assert ("tcfs", "alice", "send", "bob") in seen
    # the mount's own message, memory set and claim appear once, as tcfs's
    assert [e.source for e in evs if e.agent == "alice"] == ["tcfs"] * 3
    hand = next(e for e in evs if e.kind == "handoff")
    assert hand.detail["note"] == "parser done" and hand.detail["next_agent"] == "alice"
    sent = next(e for e in evs if e.source == "cli" and e.kind == "send")
    assert sent.detail["text"] == "from the cli <b>bold</b>"
    assert any("[tracecraft CLI]" in e.line() for e in evs)


def test_the_tail_derives_cli_records_once_they_settle(request, tracecraft, monkeypatch) -> None:
    s3: S3Store = make_store("s3", request)
    monkeypatch.setattr("tcfs.protocol.events.cli_records.CLI_SETTLE_S", 0.0)
    tail = EventTail(s3, cli_every=0)
    assert tail.poll() == []
    ok(tracecraft("bob", "send", "_broadcast", "hello all"))
    new = tail.poll()
    assert [(e.kind, e.source, e.detail["text"]) for e in new] == [
        ("broadcast", "cli", "hello all")
    ]
    assert tail.poll() == []

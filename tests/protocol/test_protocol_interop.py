"""Interop with the real ``tracecraft`` CLI (tracecraft-ai 0.2.5), both ways.

The CLI and tcfs share one bucket on the moto server (project ``proj``); what
one writes, the other must read correctly.
"""

from __future__ import annotations

import json
import re

import pytest

from tcfs.errors import ClaimTaken, NotHolder
from tcfs.protocol import Project
from tcfs.store.s3 import S3Store
from tests.support.procs import ok

pytestmark = pytest.mark.interop


@pytest.fixture
def s3(moto_server, s3_bucket) -> S3Store:
    store = S3Store(
        s3_bucket, "proj", endpoint=moto_server.endpoint, region="us-east-1", path_style=True
    )
    yield store
    store.close()


def test_claims_are_exclusive_both_ways(s3, tracecraft) -> None:
    alice = Project(s3, "alice")
    # tcfs first: the CLI is refused
    alice.steps.claim("s1")
    out = tracecraft("bob", "claim", "s1")
    assert out.returncode == 1 and "already claimed by alice" in out.stderr
    assert alice.steps.read_claim("s1").agent == "alice"
    assert "s1: in_progress (agent: alice)" in ok(tracecraft("bob", "step-status", "s1"))

    # the CLI first: tcfs is refused, and sees the CLI's crash-window-safe state
    ok(tracecraft("bob", "claim", "s2"))
    with pytest.raises(ClaimTaken) as taken:
        alice.steps.claim("s2")
    assert taken.value.holder == "bob"
    st = alice.steps.status("s2")
    assert (st.status, st.agent) == ("in_progress", "bob")
    assert st.claim is not None and st.claim.expires_at is None  # a CLI claim never expires
    with pytest.raises(NotHolder):
        alice.steps.set_status("s2", "complete")
    # the CLI maps S2 onto s2: the same step, refused the same way
    assert tracecraft("carol", "claim", "S2").returncode == 1


def test_step_status_and_handoff_from_tcfs_read_by_cli(s3, tracecraft) -> None:
    alice = Project(s3, "alice")
    alice.steps.claim("build")
    alice.steps.set_status("build", "needs_review")
    assert "build: needs_review (agent: alice)" in ok(tracecraft("x", "step-status", "build"))
    doc = alice.steps.handoff(
        "build",
        note="compiled, tests green",
        next_agent="bob",
        next_action="deploy it",
        changed_files=["src/a.py"],
    )
    assert "build: complete (agent: alice)" in ok(tracecraft("x", "step-status", "build"))
    raw = json.loads(s3.get("steps/build/handoff.json").body)
    assert raw["schema"] == 2 and raw["from_agent"] == "alice" and raw["from_step"] == "build"
    assert raw["next_agent"] == "bob" and raw["state"] == "complete"
    assert raw["next_action"] == "deploy it" and raw["note"] == "compiled, tests green"
    assert raw["changed_files"] == ["src/a.py"] and raw["created_at"] == doc["created_at"]
    status = json.loads(s3.get("steps/build/status.json").body)
    assert status["status"] == "complete" and status["agent"] == "alice"
    assert "started_at" in status and "completed_at" in status
    # the CLI's wait-for sees the completion
    assert "All steps complete" in ok(tracecraft("x", "wait-for", "build", "--timeout", "5"))
    # a claim of a complete step is refused by the CLI too
    assert tracecraft("bob", "claim", "build").returncode == 1


def test_complete_and_handoff_from_cli_read_by_tcfs(s3, tracecraft) -> None:
    ok(tracecraft("bob", "claim", "S1.A"))
    ok(
        tracecraft(
            "bob",
            "complete",
            "S1.A",
            "--note",
            "half done",
            "--to",
            "alice",
            "--next-action",
            "finish the parser",
            "--needs-review",
        )
    )
    alice = Project(s3, "alice")
    st = alice.steps.status("s1-a")
    assert (st.status, st.agent) == ("needs_review", "bob")
    hand = alice.steps.read_handoff("s1-a")
    assert hand["from_agent"] == "bob" and hand["next_agent"] == "alice"
    assert hand["next_action"] == "finish the parser" and hand["note"] == "half done"
    assert hand["state"] == "needs_review" and hand["schema"] == 2
    assert b"finish the parser" in alice.steps.render_handoff(hand)
    assert alice.steps.ids() == ["s1-a"]

    ok(tracecraft("bob", "complete", "s1-a"))
    assert alice.steps.status("s1-a").status == "complete"


def test_cli_complete_on_unclaimed_step_then_tcfs_claim(s3, tracecraft) -> None:
    """The CLI lets anyone complete an unclaimed step; a later tcfs claim must
    turn it back to in_progress for both tools, as a CLI claim would."""
    ok(tracecraft("bob", "complete", "s3", "--blocked"))
    alice = Project(s3, "alice")
    assert alice.steps.status("s3").status == "blocked"
    alice.steps.claim("s3")
    assert alice.steps.status("s3").status == "in_progress"
    assert "s3: in_progress (agent: alice)" in ok(tracecraft("x", "step-status", "s3"))


def test_messages_both_ways(s3, tracecraft) -> None:
    alice, bob = Project(s3, "alice"), Project(s3, "bob")
    ok(tracecraft("carol", "send", "bob", "from the cli", "--step", "build"))
    alice.messages.send("bob", "from tcfs")
    names = bob.messages.inbox()
    assert len(names) == 2
    first = bob.messages.read(names[0])
    assert (first.sender, first.text, first.step) == ("carol", "from the cli", "build")
    out = ok(tracecraft("bob", "inbox"))
    assert "(direct) carol [step build]: from the cli" in out
    assert "(direct) alice: from tcfs" in out


def test_cursor_shared_between_next_unread_and_inbox_new(s3, tracecraft) -> None:
    alice, bob = Project(s3, "alice"), Project(s3, "bob")
    m1 = alice.messages.send("bob", "msg-1")
    ok(tracecraft("carol", "send", "bob", "msg-2"))
    ok(tracecraft("carol", "send", "_broadcast", "msg-3"))

    # tcfs consumes the first; the CLI's --new shows only the rest
    assert bob.messages.next_unread().name == m1.name
    out = ok(tracecraft("bob", "inbox", "--new"))
    assert "msg-1" not in out and "msg-2" in out and "(broadcast) carol: msg-3" in out
    # the CLI advanced the shared cursor: nothing is left for tcfs
    assert bob.messages.next_unread() is None
    assert "No new messages." in ok(tracecraft("bob", "inbox", "--new"))

    # new mail: tcfs consumes it, and the CLI does not show it again
    ok(tracecraft("carol", "send", "bob", "msg-4"))
    got = bob.messages.next_unread()
    assert got is not None and got.text == "msg-4" and got.sender == "carol"
    assert bob.messages.next_unread() is None
    assert "No new messages." in ok(tracecraft("bob", "inbox", "--new"))
    # a plain inbox still shows everything (nothing was deleted)
    out = ok(tracecraft("bob", "inbox"))
    assert all(f"msg-{i}" in out for i in (1, 2, 3, 4))


def test_broadcasts_both_ways(s3, tracecraft) -> None:
    alice, bob = Project(s3, "alice"), Project(s3, "bob")
    ok(tracecraft("carol", "send", "_broadcast", "cli says hi"))
    sent = alice.messages.send("_broadcast", "tcfs says hi")
    assert [bob.messages.read(n).text for n in bob.messages.inbox()] == [
        "cli says hi",
        "tcfs says hi",
    ]
    out = ok(tracecraft("dave", "inbox"))
    assert "(broadcast) carol: cli says hi" in out and "(broadcast) alice: tcfs says hi" in out
    assert "tcfs says hi" not in ok(tracecraft("alice", "inbox"))  # own broadcast hidden

    # removing a broadcast hides it for that agent only
    bob.messages.remove(sent.name)
    assert "tcfs says hi" in ok(tracecraft("dave", "inbox"))
    assert sent.name in Project(s3, "dave").messages.inbox()
    assert sent.name not in bob.messages.inbox()
    # the CLI's (deprecated) --delete leaves broadcasts for everyone else
    ok(tracecraft("dave", "inbox", "--delete"))
    assert [bob.messages.read(n).text for n in bob.messages.inbox()] == ["cli says hi"]


def test_memory_both_ways(s3, tracecraft) -> None:
    alice = Project(s3, "alice")
    ok(tracecraft("bob", "memory", "set", "phase1.status", "started by the cli"))
    v = alice.memory.get(("phase1", "status"))
    assert (v.value, v.set_by) == ("started by the cli", "bob")

    alice.memory.set(("phase1", "owner"), "alice")
    alice.memory.set("phase1.status", "done")
    assert ok(tracecraft("bob", "memory", "get", "phase1.owner")) == "alice\n"
    assert ok(tracecraft("bob", "memory", "get", "phase1.status")) == "done\n"
    meta = json.loads(ok(tracecraft("bob", "memory", "get", "phase1.status", "--with-meta")))
    assert meta["set_by"] == "alice" and meta["value"] == "done"
    listed = ok(tracecraft("bob", "memory", "list", "phase1")).split()
    assert sorted(listed) == ["phase1.owner", "phase1.status"]

    hist = ok(tracecraft("bob", "memory", "history", "phase1.status")).splitlines()
    assert len(hist) == 2
    assert re.search(r"\] bob: started by the cli$", hist[0]) and hist[1].endswith("alice: done")
    mine = alice.memory.history("phase1.status")
    assert [(h["set_by"], h["value"]) for h in mine] == [
        ("bob", "started by the cli"),
        ("alice", "done"),
    ]
    assert alice.memory.entries(("phase1",)) == (["owner", "status"], [])

    ok(tracecraft("bob", "memory", "set", "phase10.y", "other"))
    assert alice.memory.entries(("phase1",)) == (["owner", "status"], [])  # no prefix bleed
    assert alice.memory.entries() == ([], ["phase1", "phase10"])

"""One regression test per bug of the peer CLI (tracecraft-ai) that the protocol
layer could repeat.  Lease bugs (permanent claims, no expiry) are covered in
test_protocol_leases.py, malformed objects in test_protocol_bad_input.py."""

from __future__ import annotations

import errno

import pytest

from tcfs.errors import AccessDenied, ClaimTaken, InvalidName
from tcfs.protocol import Project
from tcfs.store.s3 import S3Store


def test_broadcast_removed_by_one_agent_stays_for_everyone(store) -> None:
    """Peer bug: ``inbox --delete`` deleted broadcasts for every agent."""
    carol = Project(store, "carol")
    sent = carol.messages.send("_broadcast", "standup at ten")
    readers = [Project(store, a) for a in ("alice", "bob", "dave")]
    readers[0].messages.remove(sent.name)
    assert store.exists(sent.key)
    assert sent.name not in readers[0].messages.inbox()
    for other in readers[1:]:
        assert other.messages.inbox() == [sent.name]
        assert other.messages.next_unread().text == "standup at ten"
    # the removal survives a new session of the same agent (it is in the bucket)
    assert sent.name not in Project(store, "alice").messages.inbox()
    assert Project(store, "alice").messages.next_unread() is None


def test_memory_list_has_no_prefix_bleed(store) -> None:
    """Peer bug: ``memory list phase1`` also listed ``phase10.y``."""
    p = Project(store, "alice")
    p.memory.set("phase1.x", "1")
    p.memory.set("phase10.y", "2")
    p.memory.set("phase1x", "3")
    p.memory.set("phase1.sub.z", "4")
    assert p.memory.entries(("phase1",)) == (["x"], ["sub"])
    assert p.memory.entries(("phase10",)) == (["y"], [])
    assert p.memory.entries() == (["phase1x"], ["phase1", "phase10"])
    # history of "phase1.x" does not sweep in anything else
    assert [h["value"] for h in p.memory.history("phase1.x")] == ["1"]


def test_memory_keys_with_slash_do_not_alias(store) -> None:
    """Peer bug: ``a/b`` and ``a.b`` named the same key."""
    p = Project(store, "alice")
    with pytest.raises(InvalidName):
        p.memory.set("a/b", "x")
    with pytest.raises(InvalidName):
        p.memory.set("_history.a", "x")  # the audit trail cannot be forged
    assert list(store.keys("memory/")) == []


def test_step_ids_never_collide(store) -> None:
    """Peer bug: ``S1.A``, ``s1-a`` and ``S1-A`` all mapped to one step."""
    alice, bob = Project(store, "alice"), Project(store, "bob")
    alice.steps.claim("s1-a")
    for other in ("S1.A", "S1-A", "s1.a"):
        with pytest.raises(InvalidName) as exc:
            bob.steps.claim(other)
        assert exc.value.errno == errno.EINVAL
    with pytest.raises(InvalidName):
        bob.steps.claim("x/../y")  # the peer created steps/x/--/y/
    assert bob.steps.ids() == ["s1-a"]
    assert alice.steps.read_claim("s1-a").agent == "alice"


def test_heartbeat_keeps_agent_online(store, project, clock) -> None:
    """Peer bug: the heartbeat was written only at ``init``, so every agent read
    as stale after five minutes."""
    alice = project(store, "alice")
    alice.agents.register()
    for _ in range(3):
        clock.advance(200)
        alice.agents.heartbeat(step="s1")
        # the record's heartbeat is real time; read it on the real clock
        seen = Project(store, "bob").agents.get("alice")
        assert seen.presence == "online" and seen.step == "s1"
    assert project(store, "bob").agents.get("alice").presence == "stale"


def test_release_of_completed_step_deletes_the_claim(store) -> None:
    """Peer bug: claim.json was never deleted.  Release deletes it; the step
    stays complete (completion is final) and is not claimed again."""
    alice, bob = Project(store, "alice"), Project(store, "bob")
    alice.steps.claim("s1")
    alice.steps.handoff("s1", note="v1")
    alice.steps.release("s1")
    assert not store.exists("steps/s1/claim.json")
    assert bob.steps.status("s1").status == "complete"
    with pytest.raises(ClaimTaken):
        bob.steps.claim("s1")


def test_403_propagates_as_access_denied(denying_moto) -> None:
    """Peer bug: ``S3.exists`` swallowed every error, so a 403 read as "not
    found".  A moto server with authentication on answers 403 to everything;
    every protocol call must surface AccessDenied (EACCES), never an empty
    answer, "pending", "not found" or "already claimed"."""
    store = S3Store(
        "no-access", "proj", endpoint=denying_moto.endpoint, region="us-east-1", path_style=True
    )
    p = Project(store, "alice")
    calls = {
        "exists": lambda: store.exists("steps/s1/claim.json"),
        "status": lambda: p.steps.status("s1"),
        "claim": lambda: p.steps.claim("s1"),
        "steps.ids": lambda: p.steps.ids(),
        "memory.get": lambda: p.memory.get("a"),
        "memory.entries": lambda: p.memory.entries(),
        "memory.delete": lambda: p.memory.delete("a"),
        "artifacts.head": lambda: p.artifacts.head("shared", "f"),
        "inbox": lambda: p.messages.inbox(),
        "next_unread": lambda: p.messages.next_unread(),
        "send": lambda: p.messages.send("bob", "x"),
        "agents.get": lambda: p.agents.get("bob"),
        "agents.ids": lambda: p.agents.ids(),
    }
    for what, call in calls.items():
        with pytest.raises(AccessDenied) as exc:
            call()
        assert exc.value.errno == errno.EACCES, what
        assert "access denied" in str(exc.value), what
    store.close()

"""The protocol API end to end, once per backend (local, s3 on moto, hf stand-in).

Each test checks both what the API answers and what lands in the bucket, in
the CLI's layout (``keys.py``), so a layout drift fails here.
"""

from __future__ import annotations

import io
import json
import time

import pytest

from tcfs.errors import NotFound, NotHolder
from tcfs.protocol import STATUSES, Project


def test_agent_register_heartbeat_and_presence(store, project, clock) -> None:
    alice = project(store, "alice")
    rec = alice.agents.register("testing")
    assert rec.id == "alice" and rec.status == "active" and rec.presence == "online"

    raw = json.loads(store.get("agents/alice.json").body)
    assert set(raw) >= {"id", "status", "step", "started_at", "heartbeat", "summary"}
    assert raw["id"] == "alice" and raw["summary"] == "testing"

    bob = project(store, "bob")
    bob.agents.register()
    assert sorted(alice.agents.ids()) == ["alice", "bob"]

    clock.now = time.time()  # the fake clock started before the (slow) first requests
    clock.advance(301)  # the CLI's five-minute rule
    assert alice.agents.get("bob").presence == "stale"
    bob.agents.heartbeat(step="s1")
    clock.advance(-301)  # back to the real time the heartbeat was stamped with
    seen = alice.agents.get("bob")
    assert seen.presence == "online" and seen.step == "s1"
    shown = json.loads(alice.agents.render(seen))
    assert shown["presence"] == "online" and shown["id"] == "bob"

    with pytest.raises(NotFound):
        alice.agents.get("carol")


def test_step_lifecycle_and_layout(store, project) -> None:
    alice = project(store, "alice")
    claim = alice.steps.claim("build")
    assert claim.agent == "alice" and claim.epoch > 0 and claim.expires_at is not None
    assert alice.steps.ids() == ["build"]
    assert alice.steps.held() == ["build"]

    doc = json.loads(store.get("steps/build/claim.json").body)
    assert doc["agent"] == "alice" and "claimed_at" in doc
    assert doc["epoch"] == claim.epoch and doc["lease_ttl_s"] == 10.0

    st = alice.steps.status("build")
    assert (st.status, st.agent, st.epoch) == ("in_progress", "alice", claim.epoch)

    assert alice.steps.set_status("build", "needs_review").status == "needs_review"
    assert alice.steps.status("build").status == "needs_review"

    hand = alice.steps.handoff("build", note="done", next_agent="bob", next_action="test it")
    assert hand["state"] == "complete" and hand["epoch"] == claim.epoch
    st = alice.steps.status("build")
    assert (st.status, st.agent) == ("complete", "alice")
    raw = json.loads(store.get("steps/build/status.json").body)
    assert raw["status"] == "complete" and "completed_at" in raw and "started_at" in raw

    got = alice.steps.read_handoff("build")
    for k in ("schema", "from_agent", "from_step", "next_agent", "state", "next_action", "note"):
        assert got[k] == hand[k]
    assert b"test it" in alice.steps.render_handoff(got)
    assert b"agent: alice" in alice.steps.read_claim("build").render()
    assert set(STATUSES) >= {st.status}

    bob = project(store, "bob")
    with pytest.raises(NotHolder):
        bob.steps.set_status("build", "blocked")
    with pytest.raises(NotFound):
        bob.steps.read_handoff("other")
    assert bob.steps.status("other").status == "pending"


def test_messages_direct_broadcast_and_cursor(store, project) -> None:
    alice, bob, carol = (project(store, a) for a in ("alice", "bob", "carol"))
    m1 = alice.messages.send("bob", "hello bob", step="build")
    m2 = carol.messages.send("_broadcast", "hello all")
    assert m1.key.startswith("messages/bob/") and m2.key.startswith("messages/_broadcast/")
    raw = json.loads(store.get(m1.key).body)
    assert raw == {**raw, "from": "alice", "to": "bob", "message": "hello bob", "step": "build"}

    assert bob.messages.inbox() == [m1.name, m2.name]
    assert carol.messages.inbox() == []  # own broadcasts are not shown
    got = bob.messages.read(m1.name)
    assert (got.sender, got.text, got.step, got.broadcast) == ("alice", "hello bob", "build", False)
    assert got.render() == b"hello bob\n"

    assert bob.messages.next_unread().name == m1.name
    assert bob.messages.next_unread().name == m2.name
    assert bob.messages.next_unread() is None
    m3 = alice.messages.send("bob", "again")
    assert bob.messages.next_unread().name == m3.name
    assert json.loads(store.get("messages/bob/_cursor.json").body)["direct"]["seen"]

    bob.messages.remove(m1.name)
    with pytest.raises(NotFound):
        store.get(m1.key)
    bob.messages.remove(m2.name)  # a broadcast: hidden for bob only
    assert m2.name not in bob.messages.inbox()
    assert m2.name in alice.messages.inbox()
    assert store.exists(m2.key)
    with pytest.raises(NotFound):
        bob.messages.read("1_nobody_0000abcd")


def test_memory_values_dirs_and_history(store, project) -> None:
    alice, bob = project(store, "alice"), project(store, "bob")
    alice.memory.set("phase1.status", "started")
    bob.memory.set(("phase1", "status"), "done\n")
    alice.memory.set("phase1.notes.first", "x")
    alice.memory.set("top", "1")

    v = alice.memory.get("phase1.status")
    assert (v.value, v.set_by, v.key) == ("done\n", "bob", ("phase1", "status"))
    assert v.render() == b"done\n"
    raw = json.loads(store.get("memory/phase1/status.json").body)
    assert raw["value"] == "done\n" and raw["set_by"] == "bob" and "set_at" in raw

    assert alice.memory.entries() == (["top"], ["phase1"])
    assert alice.memory.entries(("phase1",)) == (["status"], ["notes"])
    hist = alice.memory.history("phase1.status")
    assert [h["value"] for h in hist] == ["started", "done\n"]
    assert all(h["key"] == "phase1.status" for h in hist)
    assert len(alice.memory.history("phase1.status", limit=1)) == 1

    alice.memory.delete("top")
    with pytest.raises(NotFound):
        alice.memory.get("top")
    with pytest.raises(NotFound):
        alice.memory.delete("top")


def test_artifacts_roundtrip(store, project) -> None:
    p: Project = project(store, "alice")
    data = bytes(range(256)) * 40
    p.artifacts.upload("shared", "blob.bin", io.BytesIO(data), len(data))
    p.artifacts.upload("build", "log.txt", io.BytesIO(b"ok\n"), 3)
    assert sorted(p.artifacts.scopes()) == ["build", "shared"]
    assert [i.key for i in p.artifacts.files("shared")] == ["blob.bin"]
    assert p.artifacts.head("shared", "blob.bin").size == len(data)
    assert p.artifacts.read("shared", "blob.bin", 100, 50) == data[100:150]
    assert p.artifacts.read("shared", "blob.bin", len(data) - 5, 100) == data[-5:]
    assert store.get("artifacts/build/log.txt").body == b"ok\n"
    p.artifacts.delete("build", "log.txt")
    with pytest.raises(NotFound):
        p.artifacts.head("build", "log.txt")
    with pytest.raises(NotFound):
        p.artifacts.delete("build", "log.txt")


def test_memory_has_children_without_listing_everything(store, project) -> None:
    a = project(store, "alice")
    assert not a.memory.has_children(["ns"])
    a.memory.set(["ns", "deep", "k"], "v")
    a.memory.set(["nsx"], "v")  # a sibling whose name starts the same way
    assert a.memory.has_children(["ns"])
    assert a.memory.has_children(["ns", "deep"])
    assert not a.memory.has_children(["ns", "deep", "k"])  # a value, not a directory
    assert not a.memory.has_children(["n"])  # no prefix bleed
    a.memory.delete(["ns", "deep", "k"])
    assert not a.memory.has_children(["ns"])  # history alone is not content

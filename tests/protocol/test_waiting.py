"""Waiting passes on every backend: a send or a final status wakes the reader
through its doorbell, a sender that rings nothing is caught by the sweep, and
an idle pass costs one conditional GET (counted at the S3 endpoint)."""

from __future__ import annotations

from typing import Any

from tcfs.config import SWEEP_S
from tcfs.protocol import Project, keys, records
from tcfs.protocol.waiting import BROADCAST_EVERY
from tcfs.store.s3 import S3Store
from tests.protocol.conftest import FakeClock
from tests.support.loopback_proxy import LoopbackProxy


def _idle(p: Project, passes: int = 3) -> None:
    for _ in range(passes):
        look = p.waiting.look(inbox=True)
        assert not look.inbox and not look.statuses and not look.swept


def test_a_send_wakes_the_inbox(store) -> None:  # type: ignore[no-untyped-def]
    alice, bob = Project(store, "alice"), Project(store, "bob")
    assert alice.waiting.look(inbox=True, fresh_reader=True).inbox
    assert alice.messages.next_unread() is None
    _idle(alice)
    bob.messages.send("alice", "hello")
    assert bob.bells.flush()
    assert alice.waiting.look(inbox=True).inbox
    msg = alice.messages.next_unread()
    assert msg is not None and msg.text == "hello"
    _idle(alice)
    bob.close()


def test_a_broadcast_wakes_the_inbox_within_a_few_passes(store) -> None:  # type: ignore[no-untyped-def]
    alice, bob = Project(store, "alice"), Project(store, "bob")
    alice.waiting.look(inbox=True, fresh_reader=True)
    bob.messages.send(keys.BROADCAST, "all hands")
    assert bob.bells.flush()
    woke = [alice.waiting.look(inbox=True).inbox for _ in range(BROADCAST_EVERY)]
    assert woke.count(True) == 1
    msg = alice.messages.next_unread()
    assert msg is not None and msg.text == "all hands"
    bob.close()


def test_a_final_status_wakes_the_waiter(store) -> None:  # type: ignore[no-untyped-def]
    alice, bob = Project(store, "alice"), Project(store, "bob")
    assert alice.waiting.add_step("build").status == "pending"
    assert store.exists(keys.waiter_key("build", "alice"))
    alice.waiting.look(inbox=False)  # the first look reads the step: no bell seen yet
    bob.steps.claim("build")
    assert bob.bells.flush()
    assert not alice.waiting.look(inbox=False).statuses  # a claim rings nothing
    bob.steps.handoff("build", note="done")
    assert bob.bells.flush()
    look = alice.waiting.look(inbox=False)
    assert look.statuses["build"].status == "complete"
    alice.waiting.remove_step("build")
    assert not store.exists(keys.waiter_key("build", "alice"))
    assert alice.waiting.look(inbox=False).requests == 0  # nothing to wait for: no request
    bob.close()


def test_blocked_status_wakes_the_waiter_too(store) -> None:  # type: ignore[no-untyped-def]
    alice, bob = Project(store, "alice"), Project(store, "bob")
    alice.waiting.add_step("deploy")
    bob.steps.claim("deploy")
    bob.steps.set_status("deploy", "blocked")
    assert bob.bells.flush()
    assert alice.waiting.look(inbox=False).statuses["deploy"].status == "blocked"
    bob.close()


def test_a_sender_that_rings_nothing_is_caught_by_the_sweep(store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    alice = Project(store, "alice")
    alice.waiting.clock = clock
    alice.waiting.look(inbox=True, fresh_reader=True)
    alice.waiting._swept = clock()
    # what the tracecraft CLI writes: the message, and no bell
    key = keys.append_key(keys.mailbox_prefix("alice"), "cli-agent")
    doc = {"from": "cli-agent", "to": "alice", "message": "from the CLI", "sent_at": "t"}
    store.put(key, records.encode(doc))
    clock.advance(SWEEP_S / 2)
    _idle(alice, 2)
    clock.advance(SWEEP_S / 2)
    look = alice.waiting.look(inbox=True)
    assert look.swept and look.inbox
    msg = alice.messages.next_unread()
    assert msg is not None and msg.text == "from the CLI"


def test_idle_passes_cost_one_get_and_never_list_steps(moto_server, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    proxy = LoopbackProxy(moto_server.port)
    store = S3Store(s3_bucket, "proj", endpoint=proxy.endpoint, region="us-east-1", path_style=True)
    alice = Project(store, "alice")
    try:
        for i in range(5):
            alice.waiting.add_step(f"dep-{i}")
        alice.waiting.look(inbox=True, fresh_reader=True)
        before = len(proxy.requests)
        passes = 2 * BROADCAST_EVERY
        total = sum(alice.waiting.look(inbox=True).requests for _ in range(passes))
        sent: list[Any] = proxy.requests[before:]
        assert total == len(sent) == passes + 2  # own bell every pass, broadcasts' bell twice
        assert {r.method for r in sent} == {"GET"}
        assert all(keys.BELL_LEAF in r.target for r in sent)
        everything = proxy.requests
        assert not [r for r in everything if "list-type" in r.target and "steps" in r.target]
    finally:
        store.close()
        proxy.close()

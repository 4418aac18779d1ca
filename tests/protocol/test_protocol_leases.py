"""Leases and fencing (docs/reliability.md), driven by an injected clock.

Two agents share one fake clock (the wall clock and the monotonic one leases
age on); leases are 10 s.  A lease is taken over only once its claim is older
than its TTL plus ``EXPIRY_MARGIN_S`` on the store's clock: the age it had when
read (the store's Date minus its Last-Modified, about 0 here), plus the time
since on the reader's monotonic clock.  Where a store gives no Date (the hf
stand-in) ``expires_at`` is read on the wall clock with ``CLOCK_SKEW_S``.
"""

from __future__ import annotations

import json

import pytest

from tcfs.errors import ClaimTaken, NotFound, NotHolder, PreconditionFailed
from tcfs.protocol import records
from tcfs.protocol.steps import CLOCK_SKEW_S, EXPIRY_MARGIN_S

#: past the margin of either rule; a Date-less store's is the smaller one
MARGIN = max(EXPIRY_MARGIN_S, CLOCK_SKEW_S)
PAST_EXPIRY = 10.0 + MARGIN + 1.5


def test_lease_expiry(store, project, clock) -> None:
    alice, bob = project(store, "alice"), project(store, "bob")
    claim = alice.steps.claim("s1")
    assert claim.expires_at == pytest.approx(clock.now + 10.0, abs=1.0)
    assert not bob.steps.expired(bob.steps.read_claim("s1"))

    clock.advance(9.0)
    with pytest.raises(ClaimTaken) as taken:
        bob.steps.claim("s1")
    assert taken.value.holder == "alice" and taken.value.errno == 17  # EEXIST

    # past expires_at, but within the margin (the store's Date adds up to 1 s)
    margin = CLOCK_SKEW_S if store.kind == "hf" else EXPIRY_MARGIN_S
    clock.advance(10.0 + margin - 9.0 - 1.5)
    with pytest.raises(ClaimTaken):
        bob.steps.claim("s1")
    assert alice.steps.read_claim("s1").agent == "alice"
    clock.advance(2.0)  # past the TTL and the margin: now bob may take it over
    assert bob.steps.claim("s1").agent == "bob"


def test_takeover_bumps_epoch(store, project, clock) -> None:
    alice, bob = project(store, "alice"), project(store, "bob")
    first = alice.steps.claim("s1")
    clock.advance(PAST_EXPIRY)
    second = bob.steps.claim("s1")
    assert second.agent == "bob"
    assert second.epoch == first.epoch + 1
    assert second.etag != first.etag
    on_disk = json.loads(store.get("steps/s1/claim.json").body)
    assert on_disk["agent"] == "bob" and on_disk["epoch"] == first.epoch + 1
    st = alice.steps.status("s1")
    assert (st.status, st.agent, st.epoch) == ("in_progress", "bob", second.epoch)
    # the new holder's status record carries its epoch (the fencing token)
    assert json.loads(store.get("steps/s1/status.json").body)["epoch"] == second.epoch


def test_renew_moves_expiry_and_is_conditional(store, project, clock) -> None:
    alice = project(store, "alice")
    first = alice.steps.claim("s1")
    clock.advance(6.0)
    renewed = alice.steps.renew("s1")
    assert renewed.expires_at == pytest.approx(first.expires_at + 6.0, abs=1.0)
    assert renewed.etag != first.etag
    assert renewed.epoch == first.epoch and renewed.agent == "alice"
    assert alice.steps.read_claim("s1").etag == renewed.etag

    # renew_all renews only leases past half their life
    assert alice.steps.renew_all() == {}
    assert alice.steps.read_claim("s1").etag == renewed.etag
    clock.advance(6.0)
    assert alice.steps.renew_all() == {}
    assert alice.steps.read_claim("s1").expires_at > renewed.expires_at

    # If-Match: once the claim object changes under the held ETag, renew is refused
    doc = json.loads(store.get("steps/s1/claim.json").body)
    doc["agent"] = "mallory"
    store.put("steps/s1/claim.json", records.encode(doc))
    with pytest.raises(NotHolder):
        alice.steps.renew("s1")
    assert json.loads(store.get("steps/s1/claim.json").body)["agent"] == "mallory"
    assert alice.steps.held() == []


def test_renew_after_takeover_is_refused(store, project, clock) -> None:
    alice, bob = project(store, "alice"), project(store, "bob")
    alice.steps.claim("s1")
    clock.advance(PAST_EXPIRY)
    bob_claim = bob.steps.claim("s1")
    with pytest.raises(NotHolder):
        alice.steps.renew("s1")
    alice2 = project(store, "alice")  # a restarted mount: no held leases
    with pytest.raises(NotHolder):
        alice2.steps.renew("s1")
    assert bob.steps.read_claim("s1").etag == bob_claim.etag


def test_renew_all_reports_lost_lease(store, project, clock) -> None:
    alice, bob = project(store, "alice"), project(store, "bob")
    alice.steps.claim("s1")
    clock.advance(PAST_EXPIRY)
    bob.steps.claim("s1")
    # her lease lapsed before bob could take it: dropped, not renewed
    assert list(alice.steps.renew_all()) == ["s1"]
    assert "s1" not in alice.steps.held()
    assert bob.steps.read_claim("s1").agent == "bob"


def test_stale_release_is_refused_and_keeps_new_claim(store, project, clock) -> None:
    alice, bob = project(store, "alice"), project(store, "bob")
    alice.steps.claim("s1")
    clock.advance(PAST_EXPIRY)
    bob_claim = bob.steps.claim("s1")
    with pytest.raises(NotHolder):
        alice.steps.release("s1")
    now = bob.steps.read_claim("s1")
    assert (now.agent, now.etag) == ("bob", bob_claim.etag)
    assert bob.steps.status("s1").status == "in_progress"
    with pytest.raises(NotFound):
        alice.steps.release("never-claimed")


def test_release_is_a_conditional_delete(atomic_store, project, clock) -> None:
    """The delete carries the ETag read: a claim rewritten since is not deleted."""
    alice = project(atomic_store, "alice")
    claim = alice.steps.claim("s1")
    clock.advance(1.0)
    renewed = alice.steps.renew("s1")
    assert renewed.etag != claim.etag
    with pytest.raises(PreconditionFailed):
        atomic_store.delete("steps/s1/claim.json", if_match=claim.etag)
    assert atomic_store.get("steps/s1/claim.json").etag == renewed.etag
    alice.steps.release("s1")
    assert not atomic_store.exists("steps/s1/claim.json")


def test_stale_status_write_is_fenced(store, project, clock) -> None:
    """A holder whose lease was taken over cannot change the step's status."""
    alice, bob = project(store, "alice"), project(store, "bob")
    old = alice.steps.claim("s1")
    clock.advance(PAST_EXPIRY)
    new = bob.steps.claim("s1")
    with pytest.raises(NotHolder):
        alice.steps.set_status("s1", "complete")
    with pytest.raises(NotHolder):
        alice.steps.handoff("s1", note="late")
    st = bob.steps.status("s1")
    assert (st.status, st.agent, st.epoch) == ("in_progress", "bob", new.epoch)
    assert not store.exists("steps/s1/handoff.json")

    # The race: alice passed the holder check before the takeover and her write
    # lands after bob's.  It must not overwrite the newer epoch's record.
    bob.steps.set_status("s1", "needs_review")
    before = store.get("steps/s1/status.json")
    with pytest.raises(NotHolder):
        alice.steps._write_status("s1", old, "complete")
    after = store.get("steps/s1/status.json")
    assert after.etag == before.etag
    assert json.loads(after.body)["epoch"] == new.epoch
    assert bob.steps.status("s1").status == "needs_review"


def test_stale_record_from_older_epoch_is_never_the_status(store, project, clock) -> None:
    """A late write from the old epoch that lands raw (before the new holder
    wrote anything) is shown as stale, never as the step's status."""
    alice, bob = project(store, "alice"), project(store, "bob")
    old = alice.steps.claim("s1")
    clock.advance(PAST_EXPIRY)
    new = bob.steps.claim("s1")
    late = {"status": "complete", "agent": "alice", "started_at": "x", "epoch": old.epoch}
    store.put("steps/s1/status.json", records.encode(late))
    st = bob.steps.status("s1")
    assert st.status == "in_progress" and st.agent == "bob" and st.epoch == new.epoch
    assert st.stale
    # a stale complete must not block the new holder either
    bob.steps.handoff("s1", note="redone")
    final = bob.steps.status("s1")
    assert (final.status, final.agent, final.epoch, final.stale) == (
        "complete",
        "bob",
        new.epoch,
        False,
    )
    assert json.loads(store.get("steps/s1/handoff.json").body)["from_agent"] == "bob"


def test_crash_window_claim_without_status_is_in_progress(store, project) -> None:
    alice = project(store, "alice")
    # a CLI-style claim whose status write never happened
    store.put(
        "steps/s1/claim.json",
        records.encode({"agent": "cli-agent", "claimed_at": records.now_iso()}),
    )
    st = alice.steps.status("s1")
    assert (st.status, st.agent) == ("in_progress", "cli-agent")
    assert st.claim is not None and st.claim.expires_at is None
    # a CLI claim never expires, so it is never taken over
    with pytest.raises(ClaimTaken):
        alice.steps.claim("s1")

    # a tcfs claim whose status record was lost reads the same way
    alice.steps.claim("s2")
    store.delete("steps/s2/status.json")
    st = alice.steps.status("s2")
    assert (st.status, st.agent) == ("in_progress", "alice")


def test_completed_step_is_not_taken_over_after_lease_lapses(store, project, clock) -> None:
    alice, bob = project(store, "alice"), project(store, "bob")
    alice.steps.claim("s1")
    alice.steps.handoff("s1", note="finished")
    assert "s1" not in alice.steps.held()  # no longer renewed
    clock.advance(PAST_EXPIRY * 3)
    assert bob.steps.expired(bob.steps.read_claim("s1"))
    with pytest.raises(ClaimTaken) as taken:
        bob.steps.claim("s1")
    assert "complete" in str(taken.value)
    st = bob.steps.status("s1")
    assert (st.status, st.agent) == ("complete", "alice")
    assert bob.steps.read_claim("s1").agent == "alice"


def test_release_makes_step_pending_and_reclaimable(store, project, clock) -> None:
    """The peer's permanent-claim bug: a released unfinished step is pending
    again and can be claimed by anyone, under a newer epoch."""
    alice, bob = project(store, "alice"), project(store, "bob")
    first = alice.steps.claim("s1")
    alice.steps.set_status("s1", "blocked")
    alice.steps.release("s1")
    assert alice.steps.status("s1").status == "pending"
    assert not store.exists("steps/s1/claim.json")
    assert alice.steps.held() == []
    clock.advance(1.0)
    second = bob.steps.claim("s1")
    assert second.agent == "bob" and second.epoch > first.epoch
    assert alice.steps.status("s1").status == "in_progress"


@pytest.mark.parametrize("how", ["status", "handoff"])
def test_completion_is_final(store, project, clock, how) -> None:
    """Releasing a complete step releases the lease and keeps it complete: it is
    not claimed again, by anyone."""
    alice, bob = project(store, "alice"), project(store, "bob")
    alice.steps.claim("s1")
    if how == "status":
        alice.steps.set_status("s1", "complete")
    else:
        alice.steps.handoff("s1", note="done")
    alice.steps.release("s1")
    assert not store.exists("steps/s1/claim.json") and alice.steps.held() == []
    st = bob.steps.status("s1")
    assert (st.status, st.agent) == ("complete", "alice")
    clock.advance(1.0)
    for agent in (bob, alice):
        with pytest.raises(ClaimTaken) as taken:
            agent.steps.claim("s1")
        assert "complete" in str(taken.value)
    assert not store.exists("steps/s1/claim.json")
    if how == "handoff":
        assert bob.steps.read_handoff("s1")["note"] == "done"  # history stays


def test_reclaim_by_same_agent_is_idempotent(store, project, clock) -> None:
    alice = project(store, "alice")
    first = alice.steps.claim("s1")
    clock.advance(3.0)
    again = alice.steps.claim("s1")
    assert again.agent == "alice" and again.epoch == first.epoch
    # expires_at is on the store's clock: as well as this machine measures it
    assert again.expires_at == pytest.approx(first.expires_at + 3.0, abs=1.0)
    assert alice.steps.held() == ["s1"]
    # a second mount of the same agent (no local state) gets the same claim
    other = project(store, "alice")
    third = other.steps.claim("s1")
    assert third.epoch == first.epoch and third.agent == "alice"
    assert alice.steps.status("s1").status == "in_progress"
    assert [k for k in store.keys("steps/")] == ["steps/s1/claim.json", "steps/s1/status.json"]


def test_claim_replaces_an_unfenced_status_record(store, project) -> None:
    """A status without an epoch (the CLI's ``complete --blocked`` on an unclaimed
    step) is trusted as it stands; a new claim must replace it, as the CLI's
    claim does, or the claimed step would still read as blocked."""
    store.put(
        "steps/s1/status.json",
        records.encode({"status": "blocked", "agent": "cli-agent", "started_at": "t"}),
    )
    alice = project(store, "alice")
    claim = alice.steps.claim("s1")
    st = alice.steps.status("s1")
    assert (st.status, st.agent, st.epoch) == ("in_progress", "alice", claim.epoch)
    raw = json.loads(store.get("steps/s1/status.json").body)
    assert raw["status"] == "in_progress" and raw["epoch"] == claim.epoch


def test_release_keeps_a_newer_holders_status(store, project) -> None:
    """Release deletes the claim, then the status.  If another agent claimed the
    step in between, the status it wrote (a newer epoch) must survive."""
    alice = project(store, "alice")
    claim = alice.steps.claim("s1")
    newer = {"status": "blocked", "agent": "bob", "started_at": "t", "epoch": claim.epoch + 1}
    store.put("steps/s1/status.json", records.encode(newer))
    alice.steps.release("s1")
    assert json.loads(store.get("steps/s1/status.json").body) == newer


def test_release_clears_an_unreadable_status(store, project) -> None:
    alice = project(store, "alice")
    alice.steps.claim("s1")
    store.put("steps/s1/status.json", b"garbage")
    alice.steps.release("s1")
    assert alice.steps.status("s1").status == "pending"


def test_a_fenced_handoff_is_never_shown(store, project, clock) -> None:
    """A holder fenced off by a takeover: its handoff is refused, and one that
    lands anyway (a late write) is shown to nobody, before or after the new
    holder finishes; the new holder's release removes it."""
    alice, bob = project(store, "alice"), project(store, "bob")
    old = alice.steps.claim("s1")
    clock.advance(PAST_EXPIRY)
    new = bob.steps.claim("s1")
    with pytest.raises(NotHolder):
        alice.steps.handoff("s1", note="late", next_agent="mallory")
    assert not store.exists("steps/s1/handoff.json")
    late = {"from_agent": "alice", "note": "late", "next_agent": "mallory", "epoch": old.epoch}
    store.put("steps/s1/handoff.json", records.encode(late))
    for reader in (alice, bob):
        with pytest.raises(NotFound):
            reader.steps.read_handoff("s1")
    bob.steps.set_status("s1", "complete")
    with pytest.raises(NotFound):
        alice.steps.read_handoff("s1")
    bob.steps.release("s1")
    assert not store.exists("steps/s1/handoff.json")
    assert (alice.steps.status("s1").status, new.epoch > old.epoch) == ("complete", True)


def test_a_fast_clock_does_not_fence_out_later_holders(store, project, clock) -> None:
    """Epochs written as a fast clock's milliseconds (earlier versions) stay
    below the next holder's: it is one more than the records carry."""
    alice, bob = project(store, "alice"), project(store, "bob")
    alice.steps.claim("s1")
    fast = {"from_agent": "alice", "note": "half", "state": "blocked", "epoch": 10**13}
    store.put("steps/s1/handoff.json", records.encode(fast))
    alice.steps.release("s1")
    claim = bob.steps.claim("s1")
    assert claim.epoch == 10**13 + 1
    bob.steps.handoff("s1", note="done")
    assert bob.steps.read_handoff("s1")["note"] == "done"


def test_a_lapsed_lease_is_dropped_not_renewed(store, project, clock) -> None:
    """Not renewed for a whole TTL (the store out of reach): the lease is dropped;
    the agent's writes are refused and the daemon's renewals skip it."""
    alice = project(store, "alice")
    claim = alice.steps.claim("s1")
    clock.advance(10.5)
    assert list(alice.steps.renew_all()) == ["s1"] and alice.steps.held() == []
    with pytest.raises(NotHolder, match="claim it again"):
        alice.steps.set_status("s1", "complete")
    assert alice.steps.renew_all() == {}
    assert store.get("steps/s1/claim.json").etag == claim.etag

"""What the fault soak checks, replayed deterministically at the protocol layer.

A mount renews its leases in the background while its agent's shell renews a
step it holds (``echo me > claim`` again) or releases it (``rm claim``).  Both
are conditional writes on the same claim object: whichever lands second meets an
ETag the other one moved on.  The lease is still the agent's, and the shell must
not be told otherwise (a lost lease is ``EPERM``, and stops the renewals).

And an agent told that its claim failed must not hold the lease: a claim whose
status write fails after its conditional PUT won is given back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tcfs.errors import NotHolder, TemporaryFailure
from tcfs.protocol import records
from tcfs.protocol.steps import EXPIRY_MARGIN_S


class RenewsFirst:
    """The store, except that the first conditional write to a claim runs
    ``renew`` (the daemon's background renewal of that lease) just before it."""

    def __init__(self, store: Any, renew: Callable[[], object]) -> None:
        self._store = store
        self._renew = renew
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _before(self, key: str, if_match: str | None) -> None:
        if if_match is not None and key.endswith("/claim.json") and not self.fired:
            self.fired = True
            self._renew()

    def put(self, key: str, body: bytes, **kw: Any) -> str:
        self._before(key, kw.get("if_match"))
        return str(self._store.put(key, body, **kw))

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._before(key, if_match)
        self._store.delete(key, if_match=if_match)


def test_claiming_a_held_step_while_the_lease_is_renewed_keeps_it(atomic_store, project, clock):  # type: ignore[no-untyped-def]
    daemon = project(atomic_store, "alice")
    first = daemon.steps.claim("s1")
    clock.advance(6.0)
    racing = RenewsFirst(atomic_store, lambda: daemon.steps.renew("s1"))
    shell = project(racing, "alice")
    renewed = shell.steps.claim("s1")  # reads the claim, then renews it
    assert racing.fired
    now = atomic_store.get("steps/s1/claim.json")
    assert renewed.etag == now.etag and (renewed.agent, renewed.epoch) == ("alice", first.epoch)
    assert shell.steps.held() == ["s1"]  # still renewed by this mount


def test_release_while_the_lease_is_renewed_releases(atomic_store, project, clock):  # type: ignore[no-untyped-def]
    daemon = project(atomic_store, "alice")
    daemon.steps.claim("s1")
    clock.advance(6.0)
    racing = RenewsFirst(atomic_store, lambda: daemon.steps.renew("s1"))
    shell = project(racing, "alice")
    shell.steps.release("s1")
    assert racing.fired
    assert not atomic_store.exists("steps/s1/claim.json")
    assert shell.steps.status("s1").status == "pending"


def test_a_claim_that_really_changed_hands_is_still_refused(atomic_store, project, clock):  # type: ignore[no-untyped-def]
    """The retry on a moved ETag is for the same lease only."""
    alice = project(atomic_store, "alice")
    alice.steps.claim("s1")

    def rewritten() -> None:  # another lease now (a new epoch), whoever wrote it
        blob = atomic_store.get("steps/s1/claim.json")
        doc = records.decode(blob.body, "claim")
        doc["epoch"] += 1
        atomic_store.put("steps/s1/claim.json", records.encode(doc), if_match=blob.etag)

    with pytest.raises(NotHolder):
        project(RenewsFirst(atomic_store, rewritten), "alice").steps.claim("s1")
    with pytest.raises(NotHolder):
        project(RenewsFirst(atomic_store, rewritten), "alice").steps.release("s1")
    assert atomic_store.exists("steps/s1/claim.json")


class FailsStatus:
    """The store, except that writing a status record fails the way an endpoint
    that keeps throttling fails once the retries are spent."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def put(self, key: str, body: bytes, **kw: Any) -> str:
        if key.endswith("/status.json"):
            raise TemporaryFailure(f"S3 put_object on {key}: SlowDown (503)")
        return str(self._store.put(key, body, **kw))


def test_a_claim_whose_status_write_fails_gives_the_lease_back(atomic_store, project, clock):  # type: ignore[no-untyped-def]
    alice = project(FailsStatus(atomic_store), "alice")
    with pytest.raises(TemporaryFailure):
        alice.steps.claim("s1")
    assert alice.steps.held() == []  # nothing left for the mount to renew
    assert not atomic_store.exists("steps/s1/claim.json")

    bob = project(atomic_store, "bob")
    bob.steps.claim("s1")
    clock.advance(10.0 + EXPIRY_MARGIN_S + 2.0)  # bob's lease lapsed: alice takes it over...
    with pytest.raises(TemporaryFailure):
        alice.steps.claim("s1")  # ...but cannot write its status
    assert alice.steps.held() == []
    assert not atomic_store.exists("steps/s1/claim.json")

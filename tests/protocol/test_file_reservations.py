"""File reservations in the protocol: overlap refused, naming the holder;
release by the holder only; expiry judged on the observer's own monotonic
clock; and racing agents never both holding overlapping globs."""

from __future__ import annotations

import json
import threading

import pytest

from tcfs.errors import ClaimTaken, NotFound, NotHolder
from tcfs.protocol.file_reservations import MARGIN_S, FileReservations
from tcfs.protocol.keys import RESERVATIONS_INDEX
from tcfs.store.base import Store


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reserve_conflict_release(atomic_store: Store) -> None:
    alice = FileReservations(atomic_store, "alice", lease_ttl=10)
    bob = FileReservations(atomic_store, "bob", lease_ttl=10)
    made = alice.reserve("api", "src/api/**\n")
    assert made.globs == ("src/api/**",) and made.agent == "alice"
    with pytest.raises(ClaimTaken, match="reservation api held by alice") as taken:
        bob.reserve("mine", "src/api/user.py\n")
    assert taken.value.holder == "alice" and taken.value.errno == 17
    with pytest.raises(ClaimTaken, match="held by alice"):
        bob.reserve("api", "elsewhere/**")  # the name is taken too
    bob.reserve("web", "src/web/**")  # disjoint: fine
    alice.reserve("api2", "src/api/v2")  # an agent's own reservations may overlap
    with pytest.raises(NotHolder):
        bob.release("api")
    assert [r.name for r in bob.live()] == ["api", "api2", "web"]
    alice.release("api")
    alice.release("api2")
    with pytest.raises(NotFound):
        alice.release("api")
    bob.reserve("mine", "src/api/user.py")
    assert bob.get("mine").covers("src/api/user.py") == "src/api/user.py"


def test_expiry_is_judged_on_the_observers_clock(atomic_store: Store) -> None:
    """A lease the observer has seen unchanged for its TTL plus the margin is
    expired, whatever the wall clocks say; a renewal restarts the count."""
    clock = Monotonic()
    alice = FileReservations(atomic_store, "alice", lease_ttl=10, monotonic=clock)
    bob = FileReservations(atomic_store, "bob", lease_ttl=10, monotonic=clock)
    alice.reserve("api", "src/api/**")
    with pytest.raises(ClaimTaken):
        bob.reserve("b", "src/**")  # bob first sees alice's lease now
    clock.now += 6  # alice renews past half her lease
    assert alice.renew_all() == []
    clock.now += 6
    with pytest.raises(ClaimTaken):  # 12 s since bob's first look, but renewed at 6
        bob.reserve("b", "src/**")
    clock.now += 10 + MARGIN_S + 0.1  # alice is gone: no renewal
    made = bob.reserve("b", "src/**")
    assert made.taken_from == "alice"
    assert [r.name for r in bob.live()] == ["b"]
    assert alice.renew_all() == ["api"]  # alice learns she lost it
    assert alice.held() == []


def test_a_fresh_observer_waits_a_whole_lease(atomic_store: Store) -> None:
    clock = Monotonic()
    FileReservations(atomic_store, "alice", lease_ttl=10).reserve("api", "src/api")
    late = FileReservations(atomic_store, "late", lease_ttl=10, monotonic=clock)
    clock.now += 1000  # no matter how old the record's wall-clock stamps are
    with pytest.raises(ClaimTaken):
        late.reserve("x", "src/api/x.py")


def test_racing_overlapping_reservations_never_both_win(atomic_store: Store) -> None:
    """Each round, two agents reserve overlapping globs at once (different
    names): exactly one wins, and the bucket never holds both."""
    agents = [FileReservations(atomic_store, a, lease_ttl=30) for a in ("alice", "bob")]

    def contend(me: FileReservations, name: str, glob: str, start: threading.Barrier) -> None:
        start.wait(timeout=10)
        try:
            me.reserve(name, glob)
            won.append(me.agent)
        except ClaimTaken:
            pass

    for round_ in range(30):
        start = threading.Barrier(2)
        won: list[str] = []
        threads = [
            threading.Thread(
                target=contend, args=(agents[0], f"a-{round_}", f"r{round_}/**", start)
            ),
            threading.Thread(
                target=contend, args=(agents[1], f"b-{round_}", f"r{round_}/x.py", start)
            ),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(won) == 1, (round_, won)
        holders = {r.agent for r in agents[0].live() if r.name.endswith(f"-{round_}")}
        assert holders == set(won)


def test_a_malformed_entry_is_skipped_and_kept(atomic_store: Store) -> None:
    alice = FileReservations(atomic_store, "alice", lease_ttl=10)
    alice.reserve("api", "src/api/**")
    doc = json.loads(atomic_store.get(RESERVATIONS_INDEX).body)
    doc["reservations"]["junk"] = {"agent": 7}
    atomic_store.put(RESERVATIONS_INDEX, json.dumps(doc).encode())
    assert [r.name for r in alice.live()] == ["api"]
    alice.reserve("web", "src/web/**")
    kept = json.loads(atomic_store.get(RESERVATIONS_INDEX).body)["reservations"]
    assert kept["junk"] == {"agent": 7} and sorted(kept) == ["api", "junk", "web"]

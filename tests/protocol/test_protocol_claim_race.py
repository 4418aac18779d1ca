"""Exactly one winner per step when 16 contenders race for each of 200 steps.

Contenders are threads, or separate processes (``spawn`` context), each with
its own store and Project.  The s3 backend is moto with its writes serialized
(``tests/support/s3server.py``): stock moto checks a condition and then writes without
a lock, and was seen to give one step two winners in this very test.  Winners
are counted from the contenders' own answers, and the bucket's ``claim.json``
must name the same agent.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import threading
from collections import Counter
from typing import Any

import pytest

from tcfs.protocol import Project
from tcfs.store.local import LocalStore
from tests.protocol.claim_contender import contend, contend_to_queue
from tests.support.machine import TEST_S3

CONTENDERS = 16
# SeaweedFS takes seconds to settle 16 contenders on one key: fewer steps there.
STEPS = [f"race-{i:03d}" for i in range(200 if TEST_S3 == "moto" else 20)]


def _spec(store: Any) -> dict[str, Any]:
    if isinstance(store, LocalStore):
        return {"kind": "local", "root": str(store.root), "project": store.project}
    return {
        "kind": "s3",
        "bucket": store.bucket,
        "endpoint": store.endpoint,
        "project": store.project,
    }


def _check(results: list[dict[str, Any]], store: Any) -> None:
    assert len(results) == CONTENDERS
    fatal = [r["fatal"] for r in results if "fatal" in r]
    assert not fatal, fatal
    errors = [e for r in results for e in r["errors"]]
    assert not errors, errors[:5]

    winners: dict[str, list[str]] = {}
    for r in results:
        for step in r["won"]:
            winners.setdefault(step, []).append(r["agent"])
        # every attempt ended in a win or a refusal
        assert sorted(r["won"] + list(r["lost"])) == STEPS
    doubles = {s: w for s, w in winners.items() if len(w) != 1}
    assert not doubles, f"steps with more than one winner: {dict(list(doubles.items())[:5])}"
    assert sorted(winners) == STEPS, "some step had no winner"

    # every loser was told the real winner
    for r in results:
        for step, holder in r["lost"].items():
            assert holder == winners[step][0], (step, holder, winners[step])

    # the bucket agrees
    reader = Project(store, "auditor")
    for step in STEPS:
        claim = reader.steps.read_claim(step)
        assert claim.agent == winners[step][0], step
        assert reader.steps.status(step).agent == claim.agent
    # spread: the race was real, not one contender winning everything in turn
    spread = Counter(w[0] for w in winners.values())
    assert len(spread) > 1, spread


@pytest.mark.slow
def test_claim_race_threads(atomic_store) -> None:
    spec = _spec(atomic_store)
    barrier = threading.Barrier(CONTENDERS)
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def run(agent: str) -> None:
        try:
            out = contend(spec, agent, STEPS, barrier)
        except BaseException as exc:
            barrier.abort()
            out = {"agent": agent, "fatal": f"{type(exc).__name__}: {exc}"}
        with lock:
            results.append(out)

    threads = [
        threading.Thread(target=run, args=(f"agent-{i:02d}",), daemon=True)
        for i in range(CONTENDERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    assert not any(t.is_alive() for t in threads), "a contender thread hung"
    _check(results, atomic_store)


@pytest.mark.slow
def test_claim_race_processes(atomic_store) -> None:
    ctx = multiprocessing.get_context("spawn")
    spec = _spec(atomic_store)
    barrier = ctx.Barrier(CONTENDERS)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=contend_to_queue,
            args=(spec, f"agent-{i:02d}", STEPS, barrier, out),
            daemon=True,
        )
        for i in range(CONTENDERS)
    ]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=150))
    except queue_mod.Empty:
        pytest.fail(f"only {len(results)} of {CONTENDERS} contenders reported")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
    _check(results, atomic_store)


@pytest.mark.slow
def test_takeover_race_threads(atomic_store) -> None:
    """16 threads take over the same expired leases: one winner each, epoch + 1."""
    from tcfs.protocol import records

    steps = [f"expired-{i:02d}" for i in range(24)]
    for step in steps:
        doc = {"agent": "gone", "claimed_at": "t", "epoch": 7, "expires_at": 1.0}
        atomic_store.put(f"steps/{step}/claim.json", records.encode(doc))
    barrier = threading.Barrier(CONTENDERS)
    spec = _spec(atomic_store)
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def run(agent: str) -> None:
        try:
            out = contend(spec, agent, steps, barrier)
        except BaseException as exc:
            barrier.abort()
            out = {"agent": agent, "fatal": f"{type(exc).__name__}: {exc}", "won": []}
        with lock:
            results.append(out)

    threads = [
        threading.Thread(target=run, args=(f"agent-{i:02d}",), daemon=True)
        for i in range(CONTENDERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    assert not any(t.is_alive() for t in threads), "a contender thread hung"
    assert not [r["fatal"] for r in results if "fatal" in r]
    assert not [e for r in results for e in r["errors"]]
    wins = Counter(s for r in results for s in r["won"])
    assert sorted(wins) == steps and set(wins.values()) == {1}
    reader = Project(atomic_store, "auditor")
    for step in steps:
        claim = reader.steps.read_claim(step)
        winner = next(r["agent"] for r in results if step in r["won"])
        assert (claim.agent, claim.epoch) == (winner, 8)
        st = reader.steps.status(step)
        assert (st.status, st.agent, st.epoch) == ("in_progress", winner, 8)

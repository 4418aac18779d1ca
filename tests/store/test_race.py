"""Sixteen contenders race ``put(if_none_match=True)`` on the same keys:
exactly one wins each key, on every backend whose conditional writes are exact."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from tests.store import race_worker

CONTENDERS = 16
KEYS = [f"steps/s{i:02d}/claim.json" for i in range(50)]


def _spec(store, moto_endpoint: str | None) -> dict:  # type: ignore[no-untyped-def]
    if store.kind == "local":
        return {"kind": "local", "root": str(store.root), "project": store.project}
    return {
        "kind": "s3",
        "bucket": store.bucket,
        "project": store.project,
        "endpoint": moto_endpoint,
    }


def _check_one_winner_per_key(store, results: list[list[str]]) -> None:  # type: ignore[no-untyped-def]
    wins = Counter(k for won in results for k in won)
    assert {k: wins[k] for k in KEYS} == dict.fromkeys(KEYS, 1)
    winner_of = {k: i for i, won in enumerate(results) for k in won}
    for key in KEYS:
        body = store.get(key).body.decode()
        assert body.startswith(f"c{winner_of[key]:02d} "), (key, body)


@pytest.mark.slow
def test_threads_race_one_winner_per_key(exact_store, request) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(CONTENDERS)

    def contender(i: int) -> list[str]:
        # each thread its own store object (its own client), as separate agents would
        if exact_store.kind == "s3":
            spec = _spec(exact_store, exact_store.endpoint)
        else:
            spec = _spec(exact_store, None)
        race_worker.init(barrier)
        return race_worker.race(spec, KEYS, f"c{i:02d}")

    with ThreadPoolExecutor(CONTENDERS) as pool:
        results = list(pool.map(contender, range(CONTENDERS)))
    _check_one_winner_per_key(exact_store, results)


@pytest.mark.slow
def test_shared_store_threads_race(exact_store) -> None:  # type: ignore[no-untyped-def]
    """One store shared by many threads (the daemon's case): still one winner."""
    from tcfs.errors import PreconditionFailed

    barrier = threading.Barrier(CONTENDERS)

    def contender(i: int) -> list[str]:
        barrier.wait(timeout=60)
        won = []
        for key in KEYS:
            try:
                exact_store.put(key, f"c{i:02d} shared".encode(), if_none_match=True)
                won.append(key)
            except PreconditionFailed:
                pass
        return won

    with ThreadPoolExecutor(CONTENDERS) as pool:
        results = list(pool.map(contender, range(CONTENDERS)))
    _check_one_winner_per_key(exact_store, results)


@pytest.mark.slow
def test_processes_race_one_winner_per_key(exact_store) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(CONTENDERS)
    endpoint = getattr(exact_store, "endpoint", None)
    spec = _spec(exact_store, endpoint)
    with ProcessPoolExecutor(
        CONTENDERS, mp_context=ctx, initializer=race_worker.init, initargs=(barrier,)
    ) as pool:
        futures = [
            pool.submit(race_worker.race, spec, KEYS, f"c{i:02d}") for i in range(CONTENDERS)
        ]
        results = [f.result(timeout=150) for f in futures]
    _check_one_winner_per_key(exact_store, results)

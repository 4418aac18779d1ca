"""Doorbells on every backend: rung after the write, coalesced, throttling tolerated.

The S3 cases go through the loopback proxy, which counts what reaches the
endpoint and can answer a bell's PUT with 503 SlowDown or 429 as R2 and GCS do
when one key is written more than about once a second.
"""

from __future__ import annotations

import json
import time

import pytest

from tcfs.protocol import keys
from tcfs.protocol.doorbells import BellWatch, Doorbells
from tcfs.store.base import RetryPolicy
from tcfs.store.s3 import S3Store
from tests.support.loopback_proxy import LoopbackProxy, refuse


def test_a_ring_is_seen_once_by_a_watcher(store) -> None:  # type: ignore[no-untyped-def]
    bells = Doorbells(store, "alice")
    watch = BellWatch(store)
    try:
        assert watch.rang("bob")  # the first look always counts: nothing seen yet
        assert not watch.rang("bob")  # absent, still absent
        bells.ring("bob")
        assert bells.flush()
        assert watch.rang("bob")
        assert not watch.rang("bob")
        body = json.loads(store.get(keys.bell_key("bob")).body)
        assert body["rung_by"] == "alice"
        bells.ring("bob")
        assert bells.flush()
        assert watch.rang("bob")
    finally:
        bells.close()


def test_a_burst_of_rings_is_coalesced(store) -> None:  # type: ignore[no-untyped-def]
    bells = Doorbells(store, "alice", spacing=0.5)
    try:
        for _ in range(50):
            bells.ring("bob")
        assert bells.flush()
        assert bells.rung + bells.coalesced == 50
        assert bells.rung <= 2, bells.rung  # the first ring, and at most one trailing ring
    finally:
        bells.close()


def test_final_status_rings_the_subscribers_bells(store) -> None:  # type: ignore[no-untyped-def]
    waiter = Doorbells(store, "waiter")
    other = Doorbells(store, "other")
    done = Doorbells(store, "done-by")
    watch = BellWatch(store)
    try:
        waiter.subscribe("build")
        other.subscribe("build")
        assert watch.rang("waiter") and not watch.rang("waiter")
        assert watch.rang("other") and not watch.rang("other")
        done.ring_waiters("build")
        assert done.flush()
        assert watch.rang("waiter") and watch.rang("other")
        assert not watch.rang("done-by") or not store.exists(keys.bell_key("done-by"))
        waiter.unsubscribe("build")
        done.ring_waiters("build")
        assert done.flush()
        assert not watch.rang("waiter")
        assert watch.rang("other")
        assert not list(store.keys(keys.waiters_prefix("nothing")))
    finally:
        for b in (waiter, other, done):
            b.close()


@pytest.mark.parametrize("status", [503, 429])
def test_throttled_bell_is_retried_and_never_raises(moto_server, s3_bucket, status: int) -> None:  # type: ignore[no-untyped-def]
    hook, state = refuse(lambda r: r.method == "PUT" and keys.BELL_LEAF in r.target, status, 4)
    proxy = LoopbackProxy(moto_server.port, hook)
    store = S3Store(
        s3_bucket,
        "proj",
        endpoint=proxy.endpoint,
        region="us-east-1",
        path_style=True,
        retry=RetryPolicy(attempts=2, base_delay=0.01, deadline=2),
    )
    bells = Doorbells(store, "alice")
    try:
        t0 = time.monotonic()
        bells.ring("bob")  # returns at once, whatever the endpoint says
        assert time.monotonic() - t0 < 0.5
        assert bells.flush(timeout=30)
        assert state["refused"] == 4
        assert bells.retried >= 1 and bells.dropped == 0 and bells.rung == 1
        assert store.exists(keys.bell_key("bob"))
    finally:
        bells.close()
        store.close()
        proxy.close()


def test_unchanged_bell_costs_one_small_get(moto_server, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    proxy = LoopbackProxy(moto_server.port)
    store = S3Store(s3_bucket, "proj", endpoint=proxy.endpoint, region="us-east-1", path_style=True)
    bells = Doorbells(store, "alice")
    watch = BellWatch(store)
    try:
        bells.ring("bob")
        assert bells.flush()
        assert watch.rang("bob")
        before = len(proxy.requests)
        for _ in range(5):
            assert not watch.rang("bob")
        looks = proxy.requests[before:]
        assert [r.method for r in looks] == ["GET"] * 5
        assert all(r.header("If-None-Match") for r in looks)
    finally:
        bells.close()
        store.close()
        proxy.close()

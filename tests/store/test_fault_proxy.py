"""The fault proxy does what the soak relies on: each kind of fault, chosen by
a seeded RNG at a rate, counted, and recorded with what the endpoint did."""

from __future__ import annotations

import time

import pytest

from tcfs.errors import BackendUnavailable, TemporaryFailure
from tcfs.store.base import RetryPolicy
from tcfs.store.s3 import S3Store
from tests.support.loopback_proxy import FAULT_KINDS, FaultInjector, LoopbackProxy, Request

ONCE = RetryPolicy(attempts=1)


def _through(proxy: LoopbackProxy, bucket: str) -> S3Store:
    return S3Store(bucket, "proj", endpoint=proxy.endpoint, path_style=True, retry=ONCE)


def _with(moto_server, kind: str) -> tuple[LoopbackProxy, FaultInjector]:  # type: ignore[no-untyped-def]
    faults = FaultInjector(1.0, seed=1, kinds=(kind,), spike=(0.3, 0.3))
    return LoopbackProxy(moto_server.port, faults), faults


def _last(proxy: LoopbackProxy) -> Request:
    return proxy.recorded()[-1]


@pytest.mark.parametrize("kind", ["slowdown_503", "internal_500", "reset"])
def test_faults_before_the_endpoint_leave_it_untouched(moto_server, s3_bucket, kind) -> None:  # type: ignore[no-untyped-def]
    proxy, faults = _with(moto_server, kind)
    store = _through(proxy, s3_bucket)
    try:
        with pytest.raises(TemporaryFailure) as err:
            store.put("k", b"v")
        if kind == "slowdown_503":
            assert "SlowDown" in str(err.value)  # the S3 error document was parsed
        assert (_last(proxy).fault, _last(proxy).status) == (kind, None)
        assert faults.counts == {kind: 1}
        direct = S3Store(s3_bucket, "proj", endpoint=moto_server.endpoint, path_style=True)
        assert not direct.exists("k")
        with pytest.raises(TemporaryFailure):
            store.head("k")  # a HEAD answer carries no body, even an injected one
        direct.close()
    finally:
        store.close()
        proxy.close()


@pytest.mark.parametrize("kind", ["lost_reset", "lost_500"])
def test_lost_answers_come_after_the_write_was_applied(moto_server, s3_bucket, kind) -> None:  # type: ignore[no-untyped-def]
    proxy, _ = _with(moto_server, kind)
    store = _through(proxy, s3_bucket)
    try:
        with pytest.raises(BackendUnavailable if kind == "lost_reset" else TemporaryFailure):
            store.put("k", b"applied")
        req = _last(proxy)
        assert req.applied and req.fault == kind and req.etag
        direct = S3Store(s3_bucket, "proj", endpoint=moto_server.endpoint, path_style=True)
        assert direct.get("k").body == b"applied"
        direct.close()
    finally:
        store.close()
        proxy.close()


def test_latency_spike_delays_and_forwards(moto_server, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    proxy, _ = _with(moto_server, "latency")
    store = _through(proxy, s3_bucket)
    try:
        start = time.monotonic()
        store.put("k", b"late")
        assert time.monotonic() - start >= 0.3
        assert _last(proxy).applied and _last(proxy).fault == "latency"
    finally:
        store.close()
        proxy.close()


def test_rate_and_seed_decide_and_are_repeatable() -> None:
    def draws(seed: int) -> list[str | None]:
        faults = FaultInjector(0.3, seed=seed)
        return [faults(Request("GET", "/b/k", [], b"")).fault for _ in range(2000)]

    first = draws(7)
    assert first == draws(7) != draws(8)
    hit = [f for f in first if f is not None]
    assert 450 < len(hit) < 750  # about 30% of 2000
    assert set(hit) == set(FAULT_KINDS)
    off = FaultInjector(1.0, seed=7)
    off.enabled = False
    assert off(Request("GET", "/b/k", [], b"")).fault is None and not off.counts
    with pytest.raises(ValueError):
        FaultInjector(1.5, seed=1)
    with pytest.raises(ValueError):
        FaultInjector(0.1, seed=1, kinds=("gremlins",))

"""Fixtures for the protocol tests: an injectable clock, bucket snapshots, and a
moto server that denies every request."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tcfs.protocol import Project
from tcfs.store.base import ObjectInfo, Store
from tests.support.s3server import MotoServer


class FakeClock:
    """A clock the test moves by hand; starts at the real time so ISO stamps agree."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def all_keys(store: Store) -> dict[str, str | None]:
    """Every key of the project with its ETag (None where a listing gives none)."""
    return {e.key: e.etag for e in store.list("") if isinstance(e, ObjectInfo)}


@pytest.fixture
def bucket_keys() -> Callable[[Store], dict[str, str | None]]:
    return all_keys


@pytest.fixture
def project(clock: FakeClock) -> Callable[..., Project]:
    """``project(store, agent, **kw)``: a Project on the shared fake clock (its
    wall clock and the monotonic one leases age on), 10 s leases."""

    def make(store: Store, agent: str, **kw: object) -> Project:
        kw.setdefault("lease_ttl", 10.0)
        kw.setdefault("clock", clock)
        kw.setdefault("ticks", clock)  # leases age on it too
        return Project(store, agent, **kw)  # type: ignore[arg-type]

    return make


# ---------- a moto server that answers 403 ----------


@pytest.fixture(scope="session")
def denying_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto with request authentication on from the first request: the fake
    keys are unknown to its IAM, so every S3 call answers 403."""
    server = MotoServer(
        tmp_path_factory.mktemp("denying-moto"), env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    )
    try:
        yield server
    finally:
        server.stop()

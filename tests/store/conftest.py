"""Fixtures for the store tests: a linearizable moto and exact-CAS stores."""

from __future__ import annotations

import pytest

from tests.support.s3server import MotoServer as StrictMoto
from tests.support.stores import make_store


@pytest.fixture(scope="session")
def strict_moto(moto_server: StrictMoto) -> StrictMoto:
    """The shared moto server already decides conditional writes atomically."""
    return moto_server


@pytest.fixture(params=["local", "s3", "s3-client", "hf"])
def store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The contract once per backend, and S3 twice: on the short path and all
    through botocore's client (``short_path=False``), which must answer alike."""
    s = make_store(request.param, request)
    yield s
    s.close()


@pytest.fixture(params=["local", "s3"])
def exact_store(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    """local, or s3 on a server that decides conditional writes atomically."""
    if request.param == "local":
        from tcfs.store.local import LocalStore

        s = LocalStore(tmp_path / "bucket", "proj")
    else:
        from tcfs.store.s3 import S3Store

        server: StrictMoto = request.getfixturevalue("strict_moto")
        s = S3Store(server.new_bucket(), "proj", endpoint=server.endpoint, path_style=True)
    yield s
    s.close()

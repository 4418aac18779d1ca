"""Stores on a fresh bucket, for tests that want one outside the ``store`` fixture."""

from __future__ import annotations

import pytest

from tests.support.s3server import MotoServer


def make_store(backend: str, request: pytest.FixtureRequest, project: str = "proj"):  # type: ignore[no-untyped-def]
    """A store of the given backend on a fresh bucket."""
    if backend == "local":
        from tcfs.store.local import LocalStore

        root = request.getfixturevalue("tmp_path") / "bucket"
        return LocalStore(root, project)
    if backend in ("s3", "s3-client"):
        from tcfs.store.s3 import S3Store

        server: MotoServer = request.getfixturevalue("moto_server")
        bucket = request.getfixturevalue("s3_bucket")
        return S3Store(
            bucket,
            project,
            endpoint=server.endpoint,
            region="us-east-1",
            path_style=True,
            # "s3-client": every request through botocore's client, none on the short path
            short_path=backend == "s3",
        )
    if backend == "hf":
        from tests.support.hf_standin import HfStandIn  # noqa: F401 - fixture module

        standin = request.getfixturevalue("hf_standin")
        return standin.store(project)
    raise ValueError(backend)

"""moto's S3 server as a loopback subprocess, and the fake credentials it takes.

The server is the test suite's launcher (``python -m tests.support.s3server PORT``):
moto's application with every mutating request serialized, because plain
moto checks a conditional PUT and then writes without a lock, so two racing
claims could both win inside moto itself.  Real S3, R2 or MinIO decide them
atomically; the contention figures must measure tcfs, not that gap.
"""

from __future__ import annotations

from typing import Any

# One launcher for the tests and the benchmark.
from tests.support.s3server import (
    S3_ENV,
    LoopbackServer,
    MotoServer,
    free_port,
    loopback_client,
    wait_port,
)

__all__ = ["S3_ENV", "LoopbackServer", "MotoServer", "free_port", "s3_client", "wait_port"]


def s3_client(endpoint: str, *, pool: int = 10) -> Any:
    """A warm boto3 client configured like tcfs's S3 store (path style, no retries)."""
    return loopback_client(endpoint, pool=pool, retries=False)

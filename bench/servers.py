"""moto's S3 server as a loopback subprocess, and the fake credentials it takes.

The server is the test suite's launcher (``python -m tests.s3server PORT``):
moto's application with every mutating request serialized, because plain
moto checks a conditional PUT and then writes without a lock, so two racing
claims could both win inside moto itself.  Real S3, R2 or MinIO decide them
atomically; the contention figures must measure tcfs, not that gap.
"""

from __future__ import annotations

from typing import Any

# One launcher for the tests and the benchmark.
from tests.s3server import S3_ENV, MotoServer, free_port, wait_port

__all__ = ["S3_ENV", "MotoServer", "free_port", "s3_client", "wait_port"]


def s3_client(endpoint: str, *, pool: int = 10) -> Any:
    """A warm boto3 client configured like tcfs's S3 store (path style, no retries)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=pool,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )

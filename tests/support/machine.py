"""What this machine and this run offer the tests: the repository, the
virtualenv's programs, FUSE, and which S3 server the S3 fixtures start."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
FUSERMOUNT = shutil.which("fusermount3") or shutil.which("fusermount")

# TCFS_TEST_S3 picks the S3 server every S3 fixture uses: moto (the default,
# writes serialized) or seaweedfs (a second real server with its own quirks).
S3_SERVERS = ("moto", "seaweedfs")
TEST_S3 = os.environ.get("TCFS_TEST_S3", "moto").strip().lower() or "moto"
if TEST_S3 not in S3_SERVERS:
    raise pytest.UsageError(f"TCFS_TEST_S3={TEST_S3!r}: expected one of {', '.join(S3_SERVERS)}")


def fuse_missing() -> str | None:
    """Why this machine cannot mount, or None if it can.  ``TCFS_TEST_NO_FUSE=1``
    acts out a machine without FUSE, to check that mount tests skip there."""
    if os.environ.get("TCFS_TEST_NO_FUSE", "") not in ("", "0"):
        return "TCFS_TEST_NO_FUSE is set"
    if not (os.path.exists("/dev/fuse") and FUSERMOUNT):
        return "needs /dev/fuse and fusermount3"
    return None

"""Artifact reads through a real mount: whole files, and ranges across the daemon's blocks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcfs.fs.handles import READ_BLOCK
from tests.fs.conftest import Backend, sh

pytestmark = pytest.mark.mount


def test_reads_at_any_offset_match_the_bytes(mount, backend: Backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(2 * READ_BLOCK + 12345)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    with open(src, "rb") as fileobj:
        assert backend.store.put_file("artifacts/shared/big.bin", fileobj, len(data))
    a = mount("alice")
    f = a.path / "artifacts" / "shared" / "big.bin"
    assert sh(f"cmp {f} {src}").returncode == 0  # cp-sized reads, block by block
    for off, n in (
        (READ_BLOCK - 100, 300),
        (0, 1),
        (2 * READ_BLOCK - 1, 5000),
        (len(data) - 7, 100),
    ):
        dd = f"dd if={f} iflag=skip_bytes,count_bytes skip={off} count={n} bs=1M status=none"
        got = sh(f"{dd} | od -An -tx1 -v")
        assert got.returncode == 0, got.stderr
        assert bytes.fromhex(got.stdout.replace("\n", "").replace(" ", "")) == data[off : off + n]

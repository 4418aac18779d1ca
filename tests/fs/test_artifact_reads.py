"""Artifact reads through a real mount: whole files, and ranges across the daemon's blocks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import trio

from tcfs.fs import readahead
from tcfs.fs.handles import READ_BLOCK, ArtifactReader
from tests.support.mounts import Backend, sh

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


def test_the_mount_reads_ahead_a_mebibyte(mount) -> None:  # type: ignore[no-untyped-def]
    a = mount("alice")
    if os.geteuid() != 0:
        pytest.skip("only root can widen a mount's readahead")
    setting = readahead.bdi_file(str(a.path))
    deadline = time.monotonic() + 10
    while int(setting.read_text()) < readahead.READ_AHEAD_KB and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(setting.read_text()) == readahead.READ_AHEAD_KB


def test_concurrent_reads_of_one_block_share_its_fetch() -> None:
    """The kernel's readahead reads arrive together: one fetch per block, the
    next block fetched ahead, and the answers are the block's bytes."""
    data = bytes(range(256)) * (3 * READ_BLOCK // 256)
    fetched: list[int] = []

    async def fetch(off: int, size: int) -> bytes:
        fetched.append(off)
        await trio.sleep(0.01)
        return data[off : off + size]

    async def main() -> list[bytes]:
        reader = ArtifactReader(1, fetch)
        got: dict[int, bytes] = {}

        async def read(off: int) -> None:
            got[off] = bytes(await reader.read(off, 1 << 20))

        async with trio.open_nursery() as nursery:
            for off in range(0, 2 * READ_BLOCK, 1 << 20):
                nursery.start_soon(read, off)
        return [got[off] for off in sorted(got)]

    pieces = trio.run(main)
    assert b"".join(pieces) == data[: 2 * READ_BLOCK]
    assert sorted(set(fetched)) == [0, READ_BLOCK, 2 * READ_BLOCK]
    assert len(fetched) == len(set(fetched))  # no block asked twice


def test_the_kernel_keeps_an_artifacts_pages_only_for_the_version_it_read(  # type: ignore[no-untyped-def]
    mount, backend: Backend, tmp_path: Path
) -> None:
    """A second read of an unchanged artifact may come from the kernel's page
    cache; once another agent replaces it (same size), the next open reads
    the new bytes, never the pages of the old version."""
    one, two = tmp_path / "one.bin", tmp_path / "two.bin"
    one.write_bytes(os.urandom(3 * READ_BLOCK // 2))
    two.write_bytes(os.urandom(3 * READ_BLOCK // 2))
    a, b = mount("alice"), mount("bob")
    f = a.path / "artifacts" / "shared" / "x.bin"
    assert sh(f"cp {one} {b.path / 'artifacts' / 'shared' / 'x.bin'}").returncode == 0
    for _ in range(2):  # the second open sees the same version: the pages stay
        assert sh(f"cmp {f} {one}").returncode == 0
    assert sh(f"cp {two} {b.path / 'artifacts' / 'shared' / 'x.bin'}").returncode == 0
    for _ in range(2):
        got = sh(f"cmp {f} {two}")
        assert got.returncode == 0, got.stdout + got.stderr

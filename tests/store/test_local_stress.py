"""The local store on filesystems that make version ETags repeat: tmpfs, and a
loop-mounted ext4 with 128-byte inodes (whole-second timestamps) that hands a
freed inode out again at once.

Two processes add to one counter by compare-and-swap with equal-size bodies:
no update is lost.  Four processes claim and release one key, whose directory
each release prunes: none ever sees an I/O error.
"""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from tcfs.store.local import DIGEST_MAX, LocalStore
from tests.store import race_worker

pytestmark = pytest.mark.slow

COUNTERS, ROUNDS = 2, 400
CLAIMERS, CLAIM_ROUNDS = 4, 2500


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _mount(tmp_path: Path, kind: str) -> Path:
    where = tmp_path / kind
    where.mkdir()
    if kind == "tmpfs":
        done = _run("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where))
    else:
        if shutil.which("mkfs.ext4") is None:
            pytest.skip("mkfs.ext4 is not installed")
        image = tmp_path / "ext4.img"
        with open(image, "wb") as f:
            f.truncate(96 << 20)
        made = _run("mkfs.ext4", "-q", "-F", "-I", "128", str(image))
        if made.returncode:
            pytest.skip(f"mkfs.ext4 -I 128 failed: {made.stderr.strip()}")
        done = _run("mount", "-o", "loop", str(image), str(where))
    if done.returncode:
        pytest.skip(f"cannot mount a {kind} here (loop devices or privileges): {done.stderr}")
    return where


@pytest.fixture(params=["tmpfs", "ext4-128"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    where = _mount(tmp_path, request.param)
    try:
        yield where
    finally:
        _run("umount", "-l", str(where))


def _race(root: Path, task, args: tuple[object, ...], procs: int) -> list[int]:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    spec = {"kind": "local", "root": str(root / "bucket"), "project": "proj"}
    with ProcessPoolExecutor(
        procs, mp_context=ctx, initializer=race_worker.init, initargs=(barrier,)
    ) as pool:
        futures = [pool.submit(task, spec, *args) for _ in range(procs)]
        return [f.result(timeout=240) for f in futures]


def test_equal_size_compare_and_swaps_lose_no_update(root: Path) -> None:
    store = LocalStore(root / "bucket", "proj")
    store.put("memory/n/count.json", b"%08d" % 0)
    lost = _race(root, race_worker.count_up, ("memory/n/count.json", ROUNDS), COUNTERS)
    assert int(store.get("memory/n/count.json").body) == COUNTERS * ROUNDS, f"retries {lost}"
    # a large object's ETag is its file's version: it too never comes back
    big = bytes(DIGEST_MAX + 1)
    versions = [store.put("artifacts/a/big.bin", big) for _ in range(40)]
    assert len(set(versions)) == len(versions)


def test_racing_claims_never_see_an_io_error(root: Path) -> None:
    won = _race(
        root, race_worker.claim_and_release, ("steps/s1/claim.json", CLAIM_ROUNDS), CLAIMERS
    )
    assert sum(won) > 0  # a StoreError (EIO) in any worker fails the test above

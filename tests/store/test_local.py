"""The local backend at disk speed: ranges read only their bytes, ETags need no read.

Bytes read are counted by the kernel (``/proc/self/io``'s ``rchar``: every
``read``/``pread`` of this process), so these tests assert what was read, not
how long it took.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcfs.errors import NotFound, PreconditionFailed
from tcfs.store.base import ObjectInfo
from tcfs.store.local import DIGEST_MAX, LocalStore

BIG = 1 << 30  # a sparse file: its size costs no disk


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bucket", "proj")


def _big(store: LocalStore, key: str, tail: bytes) -> Path:
    """An object of BIG bytes placed by hand (as written before ETags came from stat)."""
    path = store.base / key
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(BIG - len(tail))
        f.seek(BIG - len(tail))
        f.write(tail)
    return path


def test_a_ranged_read_reads_only_its_range(store: LocalStore) -> None:
    _big(store, "artifacts/shared/big.bin", b"the end")
    before = _rchar()
    blob = store.get("artifacts/shared/big.bin", byte_range=(BIG - 7, 4 << 20))
    read = _rchar() - before
    assert blob.body == b"the end"  # a range past the end is cut at the end
    assert blob.size == BIG
    assert read < 1 << 20, f"a 7-byte range read {read} bytes"


def test_head_and_listing_read_no_content(store: LocalStore) -> None:
    _big(store, "artifacts/shared/big.bin", b"x")
    before = _rchar()
    info = store.head("artifacts/shared/big.bin")
    (listed,) = [e for e in store.list("artifacts/shared/") if isinstance(e, ObjectInfo)]
    assert _rchar() - before < 1 << 20
    assert info.size == BIG and info.etag
    assert listed.etag == info.etag  # a listing's ETag is the one a conditional write checks


def test_a_hand_placed_object_works_with_conditional_writes(store: LocalStore) -> None:
    path = store.base / "steps" / "s1" / "claim.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"agent": "cli"}')
    etag = store.head("steps/s1/claim.json").etag
    assert etag is not None
    assert store.get("steps/s1/claim.json").etag == etag
    with pytest.raises(PreconditionFailed):
        store.put("steps/s1/claim.json", b"{}", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put("steps/s1/claim.json", b"{}", if_match='"0-0-0"')
    new = store.put("steps/s1/claim.json", b'{"agent": "me"}', if_match=etag)
    assert new != etag
    with pytest.raises(PreconditionFailed):  # the old version is gone for good
        store.delete("steps/s1/claim.json", if_match=etag)
    store.delete("steps/s1/claim.json", if_match=new)
    with pytest.raises(NotFound):
        store.head("steps/s1/claim.json")


def test_rewriting_a_key_never_repeats_an_etag_for_other_bytes(store: LocalStore) -> None:
    # Each write frees the previous inode, which the filesystem may hand out
    # again at once, within one tick of its clock.  A small object's ETag is
    # its content's digest (equal bytes share one, as on S3); a large one's
    # file version is kept apart by the mtime stamp.
    seen = [store.put("memory/a/b.json", b"v%04d" % i) for i in range(300)]
    assert len(set(seen)) == len(seen)
    assert store.head("memory/a/b.json").etag == seen[-1]
    with pytest.raises(PreconditionFailed):
        store.put("memory/a/b.json", b"v0299", if_match=seen[-2])
    assert store.put("memory/a/b.json", b"v0299") == seen[-1]
    big = bytes(DIGEST_MAX + 1)
    versions = [store.put("artifacts/a/big.bin", big) for _ in range(30)]
    assert len(set(versions)) == len(versions)
    assert store.head("artifacts/a/big.bin").etag == versions[-1]


def test_etags_agree_across_processes(store: LocalStore, tmp_path: Path) -> None:
    mine = store.put("memory/a/b.json", b"value")
    code = (
        "import sys; from tcfs.store.local import LocalStore; "
        "s = LocalStore(sys.argv[1], 'proj'); "
        "print(s.head('memory/a/b.json').etag); "
        "print(s.put('memory/a/b.json', b'other', if_match=sys.argv[2]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "bucket"), mine],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    ).stdout.split()
    assert out[0] == mine
    assert store.get("memory/a/b.json").etag == out[1] != mine

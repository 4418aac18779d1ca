"""One contract, every backend: local, s3 (moto over HTTP) and hf (the stand-in).

The same assertions run against each store the ``store`` fixture yields, so a
backend that drifts from the others fails here first.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tcfs.errors import InvalidName, NotFound, PreconditionFailed
from tcfs.store.base import CommonPrefix, ObjectInfo

LAYOUT = ["a0.json", "a/x.json", "a.json", "a-b.json", "a/y/z.json", "b.json"]


def _keys(entries) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.key if isinstance(e, ObjectInfo) else f"<{e.prefix}>" for e in entries]


def _fill(store, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    for k in keys:
        store.put(k, k.encode())


def test_put_get_head_delete_round_trip(store) -> None:  # type: ignore[no-untyped-def]
    etag = store.put("steps/s1/claim.json", b'{"agent": "a"}')
    assert isinstance(etag, str) and etag
    blob = store.get("steps/s1/claim.json")
    assert blob.body == b'{"agent": "a"}'
    assert blob.etag == etag
    assert blob.size == len(blob.body)
    info = store.head("steps/s1/claim.json")
    assert (info.key, info.size, info.etag) == ("steps/s1/claim.json", 14, etag)
    assert info.mtime > 0
    assert store.exists("steps/s1/claim.json")

    store.delete("steps/s1/claim.json")
    with pytest.raises(NotFound):
        store.get("steps/s1/claim.json")
    with pytest.raises(NotFound):
        store.head("steps/s1/claim.json")
    assert not store.exists("steps/s1/claim.json")
    store.delete("steps/s1/claim.json")  # deleting an absent key is not an error


def test_overwrite_changes_etag(store) -> None:  # type: ignore[no-untyped-def]
    e1 = store.put("memory/a/b.json", b"one")
    e2 = store.put("memory/a/b.json", b"two")
    assert e1 != e2
    assert store.get("memory/a/b.json").body == b"two"


def test_ranged_get(store) -> None:  # type: ignore[no-untyped-def]
    store.put("artifacts/shared/digits", b"0123456789")
    blob = store.get("artifacts/shared/digits", byte_range=(2, 3))
    assert (blob.body, blob.size) == (b"234", 10)
    assert store.get("artifacts/shared/digits", byte_range=(8, 10)).body == b"89"
    past = store.get("artifacts/shared/digits", byte_range=(10, 5))
    assert (past.body, past.size) == (b"", 10)
    assert store.get("artifacts/shared/digits", byte_range=(0, 10)).body == b"0123456789"


def test_binary_bytes_intact(store) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * 4 + b"\r\n\x00\xff\xfe" + "é✓".encode()
    store.put("artifacts/s1/bin", data)
    assert store.get("artifacts/s1/bin").body == data
    store.put("artifacts/s1/empty", b"")
    empty = store.get("artifacts/s1/empty")
    assert (empty.body, empty.size) == (b"", 0)


def test_list_is_in_byte_order(store) -> None:  # type: ignore[no-untyped-def]
    _fill(store, LAYOUT)
    assert _keys(store.list("")) == [
        "a-b.json",
        "a.json",
        "a/x.json",
        "a/y/z.json",
        "a0.json",
        "b.json",
    ]
    assert _keys(store.list("a")) == ["a-b.json", "a.json", "a/x.json", "a/y/z.json", "a0.json"]
    assert _keys(store.list("a/")) == ["a/x.json", "a/y/z.json"]
    assert _keys(store.list("nothing/")) == []
    entry = next(e for e in store.list("a/") if e.key == "a/x.json")
    assert entry.size == len(b"a/x.json")
    assert entry.mtime > 0


def test_list_start_after(store) -> None:  # type: ignore[no-untyped-def]
    _fill(store, LAYOUT)
    assert _keys(store.list("", start_after="a.json")) == [
        "a/x.json",
        "a/y/z.json",
        "a0.json",
        "b.json",
    ]
    assert _keys(store.list("a/", start_after="a/x.json")) == ["a/y/z.json"]
    assert _keys(store.list("", start_after="b.json")) == []
    assert list(store.keys("", start_after="a0.json")) == ["b.json"]


def test_list_delimiter_folds_deeper_keys(store) -> None:  # type: ignore[no-untyped-def]
    _fill(store, LAYOUT)
    top = list(store.list("", delimiter="/"))
    assert _keys(top) == ["a-b.json", "a.json", "<a/>", "a0.json", "b.json"]
    assert isinstance(top[2], CommonPrefix)
    assert _keys(store.list("a/", delimiter="/")) == ["a/x.json", "<a/y/>"]
    assert _keys(store.list("", delimiter="/", start_after="a0.json")) == ["b.json"]


def test_conditional_writes_sequential(store) -> None:  # type: ignore[no-untyped-def]
    # Sequential semantics hold on every backend (hf checks, then writes).
    key = "steps/s1/claim.json"
    e1 = store.put(key, b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put(key, b"second", if_none_match=True)
    assert store.get(key).body == b"first"

    e2 = store.put(key, b"renewed", if_match=e1)
    assert e2 != e1
    with pytest.raises(PreconditionFailed):
        store.put(key, b"stale", if_match=e1)
    assert store.get(key).body == b"renewed"
    with pytest.raises(NotFound):
        store.put("steps/s2/claim.json", b"x", if_match=e1)
    assert not store.exists("steps/s2/claim.json")

    with pytest.raises(PreconditionFailed):
        store.delete(key, if_match=e1)
    assert store.exists(key)
    store.delete(key, if_match=e2)
    assert not store.exists(key)
    with pytest.raises(NotFound):
        store.delete(key, if_match=e2)


@pytest.mark.parametrize(
    "bad", ["", "/a", "a//b", "a/../b", "./a", "a/", "..", "a/./b", "../escape"]
)
def test_malformed_keys_refused(store, bad: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidName):
        store.put(bad, b"x")
    with pytest.raises(InvalidName):
        store.put(bad, b"x", if_none_match=True)
    with pytest.raises((InvalidName, NotFound)):
        store.get(bad)
    assert list(store.list("")) == []


@pytest.mark.slow
def test_put_file_get_file_20mb(store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(20 << 20)
    etag = store.put_file("artifacts/shared/big.bin", io.BytesIO(data), len(data))
    assert etag
    info = store.head("artifacts/shared/big.bin")
    assert info.size == len(data)
    out = io.BytesIO()
    assert store.get_file("artifacts/shared/big.bin", out) == len(data)
    assert out.getvalue() == data
    part = store.get("artifacts/shared/big.bin", byte_range=(12 << 20, 100))
    assert part.body == data[12 << 20 : (12 << 20) + 100]


@pytest.mark.slow
def test_pagination_beyond_1000_keys(atomic_store) -> None:  # type: ignore[no-untyped-def]
    keys = [f"messages/_broadcast/{i:05d}.json" for i in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: atomic_store.put(k, b"{}"), keys))
    assert list(atomic_store.keys("messages/")) == keys
    assert list(atomic_store.keys("messages/", start_after=keys[998])) == keys[999:]
    folded = list(atomic_store.list("messages/", delimiter="/"))
    assert folded == [CommonPrefix("messages/_broadcast/")]


def test_get_if_changed(store) -> None:  # type: ignore[no-untyped-def]
    key = "messages/a/_tcfs_bell.json"
    with pytest.raises(NotFound):
        store.get_if_changed(key, None)
    e1 = store.put(key, b"ring 1")
    first = store.get_if_changed(key, None)
    assert first is not None and (first.body, first.etag) == (b"ring 1", e1)
    assert store.get_if_changed(key, e1) is None
    e2 = store.put(key, b"ring 2")
    again = store.get_if_changed(key, e1)
    assert again is not None and (again.body, again.etag) == (b"ring 2", e2)
    assert store.get_if_changed(key, e2) is None
    store.delete(key)
    with pytest.raises(NotFound):
        store.get_if_changed(key, e2)


def test_emptied_folder_is_not_listed(store) -> None:  # type: ignore[no-untyped-def]
    store.put("memory/a/x.json", b"1")
    store.put("memory/b/y.json", b"2")
    store.delete("memory/a/x.json")
    assert _keys(store.list("memory/", delimiter="/")) == ["<memory/b/>"]

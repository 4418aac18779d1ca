"""Compare-and-swap on one object: the loop every read-modify-write shares.

    for _ in cas.attempts(8, "the read cursor"):
        blob = read it (None when absent)
        ... build the new body from it ...
        if cas.put_if_unchanged(store, key, body, blob and blob.etag) is not None:
            return

Another writer in between makes the put lose; the loop reads again.  Running
out of attempts is ``Contention`` (EAGAIN): contention, never a permission.
"""

from __future__ import annotations

from collections.abc import Iterator

from tcfs.errors import Contention, NotFound, PreconditionFailed
from tcfs.store.base import Store


def put_if_unchanged(store: Store, key: str, body: bytes, etag: str | None) -> str | None:
    """Write ``body`` if ``key`` is still at ``etag`` (still absent when None):
    its new ETag, or None when another writer got there first."""
    try:
        if etag is None:
            return store.put(key, body, if_none_match=True)
        return store.put(key, body, if_match=etag)
    except (PreconditionFailed, NotFound):
        return None


def attempts(n: int, what: str) -> Iterator[int]:
    """``n`` tries, then ``Contention`` naming ``what``."""
    yield from range(n)
    raise Contention(f"{what} keeps changing under contention; try again")

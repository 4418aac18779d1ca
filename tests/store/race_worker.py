"""A contender process for the conditional-write race (spawned by the tests)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

_barrier: Any = None


def init(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def open_store(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    if spec["kind"] == "local":
        from tcfs.store.local import LocalStore

        return LocalStore(spec["root"], spec["project"])
    from tcfs.store.s3 import S3Store

    return S3Store(spec["bucket"], spec["project"], endpoint=spec["endpoint"], path_style=True)


@contextlib.contextmanager
def _contender(spec: dict[str, Any]) -> Iterator[Any]:
    """The store of one contender, once every contender is ready."""
    store = open_store(spec)
    try:
        if _barrier is not None:
            _barrier.wait(timeout=120)
        yield store
    finally:
        store.close()


def race(spec: dict[str, Any], keys: list[str], me: str) -> list[str]:
    """Try to create every key; return the keys this contender won."""
    from tcfs.errors import PreconditionFailed

    won = []
    with _contender(spec) as store:
        for key in keys:
            try:
                store.put(
                    key,
                    f"{me} pid={os.getpid()} tid={threading.get_ident()}".encode(),
                    if_none_match=True,
                )
                won.append(key)
            except PreconditionFailed:
                pass
    return won


def count_up(spec: dict[str, Any], key: str, rounds: int) -> int:
    """Add 1 to the counter at ``key`` ``rounds`` times by compare-and-swap
    (equal-size bodies); returns the compare-and-swaps lost and retried."""
    from tcfs.errors import PreconditionFailed

    lost = 0
    with _contender(spec) as store:
        for _ in range(rounds):
            while True:
                blob = store.get(key)
                try:
                    store.put(key, b"%08d" % (int(blob.body) + 1), if_match=blob.etag)
                    break
                except PreconditionFailed:
                    lost += 1
    return lost


def claim_and_release(spec: dict[str, Any], key: str, rounds: int) -> int:
    """Claim ``key`` (create it if absent) and release it (delete it, which
    prunes its emptied directory), ``rounds`` times; returns the claims won.
    Any error but a lost race propagates."""
    from tcfs.errors import NotFound, PreconditionFailed

    won = 0
    with _contender(spec) as store:
        for _ in range(rounds):
            try:
                etag = store.put(key, f"pid={os.getpid()}".encode(), if_none_match=True)
            except PreconditionFailed:
                continue
            won += 1
            try:
                store.delete(key, if_match=etag)
            except (NotFound, PreconditionFailed):
                pass
    return won

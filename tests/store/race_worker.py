"""A contender process for the conditional-write race (spawned by the tests)."""

from __future__ import annotations

import os
import threading
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


def race(spec: dict[str, Any], keys: list[str], me: str) -> list[str]:
    """Try to create every key; return the keys this contender won."""
    from tcfs.errors import PreconditionFailed

    store = open_store(spec)
    won = []
    try:
        if _barrier is not None:
            _barrier.wait(timeout=120)
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
    finally:
        store.close()
    return won

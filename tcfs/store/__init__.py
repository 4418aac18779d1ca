"""Object-store backends behind one interface (see ``base.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcfs.store.base import (
    Blob,
    CommonPrefix,
    ListEntry,
    ObjectInfo,
    RetryPolicy,
    Store,
    call_with_retry,
    is_temp_failure,
)

if TYPE_CHECKING:
    from tcfs.config import Settings

__all__ = [
    "Blob",
    "CommonPrefix",
    "ListEntry",
    "ObjectInfo",
    "RetryPolicy",
    "Store",
    "call_with_retry",
    "is_temp_failure",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """The store the settings name.  Imports a backend only when it is used."""
    if settings.backend == "local":
        from tcfs.store.local import LocalStore

        return LocalStore(settings.bucket_path(), settings.project)
    if settings.backend == "s3":
        from tcfs.store.s3 import S3Store

        return S3Store.from_settings(settings)
    if settings.backend == "hf":
        from tcfs.store.hf import HfStore

        return HfStore.from_settings(settings)
    from tcfs.errors import ConfigError

    raise ConfigError(f"unknown backend {settings.backend!r}")

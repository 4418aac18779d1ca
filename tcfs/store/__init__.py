"""Object-store backends behind one interface (see ``base.py``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tcfs.store.base import (
    DEFAULT_RETRY,
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
    "BACKENDS",
    "DEFAULT_RETRY",
    "Blob",
    "CommonPrefix",
    "ListEntry",
    "ObjectInfo",
    "RetryPolicy",
    "Store",
    "call_with_retry",
    "is_temp_failure",
    "open_store",
    "store_class",
]


#: every backend: its name (``--backend``) and the ``Store`` class that
#: implements it, imported only when it is used
BACKENDS: dict[str, str] = {
    "local": "tcfs.store.local:LocalStore",
    "s3": "tcfs.store.s3:S3Store",
    "hf": "tcfs.store.hf:HfStore",
}


def store_class(backend: str) -> type[Store]:
    """The class of a backend, by its name."""
    if backend not in BACKENDS:
        from tcfs.errors import ConfigError

        raise ConfigError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    module, name = BACKENDS[backend].split(":")
    cls: type[Store] = getattr(importlib.import_module(module), name)
    return cls


def open_store(settings: Settings, *, retry: RetryPolicy = DEFAULT_RETRY) -> Store:
    """The store the settings name, retrying temporary failures by ``retry``."""
    return store_class(settings.backend).from_settings(settings, retry=retry)

"""Object-store backends behind one interface (see ``base.py``)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from tcfs import config
from tcfs.config import Option, Settings, boolean
from tcfs.errors import ConfigError
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
    public_endpoint,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_RETRY",
    "OPTIONS",
    "Blob",
    "CommonPrefix",
    "ListEntry",
    "ObjectInfo",
    "RetryPolicy",
    "Store",
    "call_with_retry",
    "is_temp_failure",
    "open_store",
    "resolve",
    "store_class",
]


@dataclass(frozen=True)
class Backend:
    """A backend: its ``Store`` class ("module:Class", imported only when it is
    used) and the options it parses, declared here so that reading them (for
    ``--help``, for the config) imports no backend."""

    store: str
    options: tuple[Option, ...] = ()


ENDPOINT = Option(
    "endpoint",
    "--endpoint",
    ("TCFS_ENDPOINT",),
    peer="endpoint",
    public=public_endpoint,  # a user:password in the URL is never shown
    help="S3 endpoint URL (R2, MinIO, ...)",
    show_default="AWS S3; for hf, the Hub or $HF_ENDPOINT",
)

#: every backend, by its name (``--backend``)
BACKENDS: dict[str, Backend] = {
    "local": Backend("tcfs.store.local:LocalStore"),
    "s3": Backend(
        "tcfs.store.s3:S3Store",
        (
            ENDPOINT,
            Option(
                "region",
                "--region",
                ("TCFS_REGION",),
                help="S3 region",
                show_default="us-east-1 with --endpoint, else the AWS configuration's",
            ),
            Option(
                "path_style",
                "--path-style/--virtual-host-style",
                ("TCFS_PATH_STYLE",),
                parse=boolean,  # None: path-style when an endpoint is given
                help="S3 addressing",
                show_default="path-style with --endpoint",
            ),
            Option("access_key", None, ("AWS_ACCESS_KEY_ID",), peer="access_key", secret=True),
            Option("secret_key", None, ("AWS_SECRET_ACCESS_KEY",), peer="secret_key", secret=True),
        ),
    ),
    "hf": Backend(
        "tcfs.store.hf:HfStore",
        (ENDPOINT, Option("hf_token", None, ("HF_TOKEN",), peer="hf_token", secret=True)),
    ),
}


def _declared() -> tuple[Option, ...]:
    """The common options, then each backend's (one shared by two backends,
    as ``--endpoint``, is one declaration)."""
    out = list(config.COMMON_OPTIONS)
    for backend in BACKENDS.values():
        out += [o for o in backend.options if o not in out]
    if len({o.name for o in out}) != len(out):
        raise AssertionError("two different options share a name")
    return tuple(out)


#: every option, in the order ``--help`` lists them
OPTIONS = _declared()


def resolve(*, saved: bool = True, **flags: Any) -> Settings:
    """``config.resolve`` over every declared option, for a known backend."""
    s = config.resolve(OPTIONS, saved=saved, **flags)
    _backend(s.backend)
    if not s.bucket:
        if s.backend != "local":
            raise ConfigError(f"--bucket (or TCFS_BUCKET) is required for the {s.backend} backend")
        s.bucket = str(config.tcfs_home() / "bucket")
    return s


def _backend(name: str) -> Backend:
    """The backend named ``name``; ``ConfigError`` naming the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}"
        ) from None


def store_class(backend: str) -> type[Store]:
    """The class of a backend, by its name."""
    module, name = _backend(backend).store.split(":")
    cls: type[Store] = getattr(importlib.import_module(module), name)
    return cls


def open_store(settings: Settings, *, retry: RetryPolicy = DEFAULT_RETRY) -> Store:
    """The store the settings name, retrying temporary failures by ``retry``."""
    return store_class(settings.backend).from_settings(settings, retry=retry)

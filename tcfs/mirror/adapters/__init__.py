"""The adapter registry.

Each harness's record (``tcfs.harnesses``) names the module of its adapter,
an ``Adapter`` subclass decorated with ``@register``; a module is imported
only when its adapter is first asked for.
"""

from __future__ import annotations

import importlib

from tcfs import harnesses
from tcfs.mirror.adapters.base import Adapter, FileTailAdapter, SessionRef

REGISTRY: dict[str, type[Adapter]] = {}


def register(cls: type[Adapter]) -> type[Adapter]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    return harnesses.names()


def get(name: str) -> Adapter:
    record = harnesses.get(name)  # KeyError, naming the known ones
    importlib.import_module(record.mirror)
    if name not in REGISTRY:
        raise KeyError(f"{record.mirror} registers no adapter named {name!r}")
    return REGISTRY[name]()


__all__ = ["REGISTRY", "Adapter", "FileTailAdapter", "SessionRef", "get", "names", "register"]

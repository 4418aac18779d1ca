"""The adapter registry.

Every module in this package that defines an ``Adapter`` subclass decorated
with ``@register`` is found on first use, so adding a harness is one small
module and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from tcfs.mirror.adapters.base import Adapter, FileTailAdapter, SessionRef

REGISTRY: dict[str, type[Adapter]] = {}
_loaded = False


def register(cls: type[Adapter]) -> type[Adapter]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base" and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _loaded = True


def names() -> list[str]:
    _load()
    return sorted(REGISTRY)


def get(name: str) -> Adapter:
    _load()
    if name not in REGISTRY:
        raise KeyError(f"unknown harness {name!r}: choose one of {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]()


__all__ = ["REGISTRY", "Adapter", "FileTailAdapter", "SessionRef", "get", "names", "register"]

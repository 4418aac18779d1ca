"""Naming rules, checked once, at the protocol boundary.

A bad name is an ``InvalidName`` that says which rule it broke; it never
becomes a surprising key.  The rules keep every name a single key segment:

* agent ids and artifact names: ``[A-Za-z0-9][A-Za-z0-9_.-]{0,127}``
* step ids: the peer CLI's normal form (lowercase, no dots), so ``S1.A`` and
  ``s1-a`` cannot silently collide: only ``s1-a`` is accepted
* memory key parts: ``[A-Za-z0-9][A-Za-z0-9_-]{0,127}`` (a dot is the CLI's key
  separator: ``memory/a/b`` is the CLI key ``a.b``)

No name is empty, ``.`` or ``..``, contains ``/``, or starts with ``_``
(reserved: ``_broadcast``, ``_history``, ``_cursor.json``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tcfs.errors import InvalidName

MAX_NAME = 128
MAX_MEMORY_DEPTH = 16

_AGENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_STEP_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}")
_MEMORY_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

BROADCAST = "_broadcast"


def _common(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise InvalidName(f"{kind} must be a string, got {type(name).__name__}")
    if name == "":
        raise InvalidName(f"{kind} is empty")
    if name in (".", ".."):
        raise InvalidName(f"{kind} {name!r} is not allowed")
    if "/" in name:
        raise InvalidName(f"{kind} {name!r} contains '/': names are one path segment")
    if name.startswith("_"):
        raise InvalidName(f"{kind} {name!r} starts with '_', which is reserved")
    if len(name) > MAX_NAME:
        raise InvalidName(f"{kind} is longer than {MAX_NAME} characters")
    return name


def agent_id(name: object) -> str:
    """Check an agent id; returns it unchanged."""
    return _agent_like("agent id", name)


def recipient(name: object) -> str:
    """An agent id, or ``_broadcast``."""
    if name == BROADCAST:
        return BROADCAST
    return agent_id(name)


def _agent_like(kind: str, name: object) -> str:
    n = _common(kind, name)
    if not _AGENT_RE.fullmatch(n):
        raise InvalidName(f"{kind} {n!r} must match [A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}")
    return n


def artifact_name(name: object) -> str:
    return _agent_like("artifact name", name)


def reservation_name(name: object) -> str:
    """A file reservation's name (``reservations/<name>``)."""
    return _agent_like("reservation name", name)


def step_id(name: object) -> str:
    """Check a step id that must already be in normal form."""
    n = _common("step id", name)
    if "." in n:
        raise InvalidName(f"step id {n!r} contains '.', use '-' (the CLI maps '.' to '-')")
    if n != n.lower():
        raise InvalidName(f"step id {n!r} has upper case; step ids are lower case")
    if not _STEP_RE.fullmatch(n):
        raise InvalidName(f"step id {n!r} must match [a-z0-9][a-z0-9_-]{{0,127}}")
    return n


def memory_part(name: object) -> str:
    n = _common("memory key part", name)
    if "." in n:
        raise InvalidName(
            f"memory key part {n!r} contains '.', the CLI's separator: use a directory"
        )
    if not _MEMORY_PART_RE.fullmatch(n):
        raise InvalidName(f"memory key part {n!r} must match [A-Za-z0-9][A-Za-z0-9_-]{{0,127}}")
    return n


def memory_key(parts: Sequence[str] | str) -> tuple[str, ...]:
    """A memory key as parts; a string is taken in the CLI's dotted form."""
    if isinstance(parts, str):
        if parts == "":
            raise InvalidName("memory key is empty")
        if "/" in parts:
            raise InvalidName("memory keys use '.' as separator; '/' is not allowed")
        parts = parts.split(".")
    out = tuple(memory_part(p) for p in parts)
    if not out:
        raise InvalidName("memory key is empty")
    if len(out) > MAX_MEMORY_DEPTH:
        raise InvalidName(f"memory key is deeper than {MAX_MEMORY_DEPTH} parts")
    return out

"""Naming rules, checked once, at the protocol boundary.

A bad name is an ``InvalidName`` that says which rule it broke; it never
becomes a surprising key.  The rules keep every name a single key segment:

* agent ids and project names: ``[A-Za-z0-9][A-Za-z0-9_.-]{0,127}``
* artifact names: a relative path (``dir/sub/my report.txt``) whose parts are
  anything a bucket key holds: UTF-8 without control characters, at most 255
  bytes a part (the kernel's NAME_MAX), ``MAX_ARTIFACT_PATH`` bytes in all;
  a leading dot or ``_`` is fine (nothing is reserved under ``artifacts/``)
* step ids: the peer CLI's normal form (lowercase, no dots), so ``S1.A`` and
  ``s1-a`` cannot silently collide: only ``s1-a`` is accepted; otherwise as
  broad as the CLI's layout (``visible``)
* memory key parts: no dots (a dot is the CLI's key separator: ``memory/a/b``
  is the CLI key ``a.b``); otherwise as broad as the CLI's layout (``visible``)

No name is empty, ``.`` or ``..``, contains ``/``, or (but for an artifact's)
starts with ``_`` (reserved: ``_broadcast``, ``_history``, ``_cursor.json``).

Scratch names (``is_scratch``) are the temporary files of editors and of
write-temp-then-rename tools: the mount keeps such files to itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from tcfs.errors import InvalidName

MAX_NAME = 128
MAX_MEMORY_DEPTH = 16

_AGENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

BROADCAST = "_broadcast"

#: the bytes an artifact's path may take: a bucket key holds 1024, and the
#: project, ``artifacts/`` and the scope come before it
MAX_ARTIFACT_PATH = 768
#: the kernel's NAME_MAX: no one name of a path is longer
MAX_PART_BYTES = 255
#: the local store's own temporary files (``tcfs.store.local``) are never keys
LOCAL_TMP_PREFIX = ".tcfs-tmp-"
#: Unicode categories that do not show: controls, format characters (a
#: zero-width space), line and paragraph separators
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
_PATTERN_CHARS = frozenset("*?[]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

#: temporary names of tools that write a file and rename it into place, or
#: that keep a file beside the one they edit: sed -i (``sedXXXXXX``), Python's
#: tempfile (``tmpXXXXXXXX``, with any suffix), ``name.tmp``, vim's probe
#: (``4913``) and swap files (``.name.swp``), emacs's lock and auto-save files
#: (``.#name``, ``#name#``), rsync's ``.name.XXXXXX``, and backups (``name~``)
_SCRATCH_RE = re.compile(
    r"sed[A-Za-z0-9]{6}|tmp[a-z0-9_]{8}(\..+)?|.+\.tmp|4913|\..+\.sw[a-p]x?|\.#.+|#.+#"
    r"|\..+\.[A-Za-z0-9]{6}|.+~"
)


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


def _segment(kind: str, name: object) -> str:
    n = _common(kind, name)
    if not _AGENT_RE.fullmatch(n):
        raise InvalidName(f"{kind} {n!r} must match [A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}")
    return n


def agent_id(name: object) -> str:
    """Check an agent id; returns it unchanged."""
    return _segment("agent id", name)


def project_name(name: object) -> str:
    """A project is one key segment of the bucket, by the agent id's rule."""
    return _segment("project name", name)


def recipient(name: object) -> str:
    """An agent id, or ``_broadcast``."""
    if name == BROADCAST:
        return BROADCAST
    return agent_id(name)


def artifact_part(name: object) -> str:
    """One name of an artifact's path (a directory or the file)."""
    if not isinstance(name, str):
        raise InvalidName(f"artifact name must be a string, got {type(name).__name__}")
    if name == "":
        raise InvalidName("artifact name has an empty part")
    if name in (".", ".."):
        raise InvalidName(f"artifact name part {name!r} is not allowed")
    if "/" in name:
        raise InvalidName(f"artifact name part {name!r} contains '/'")
    if _CONTROL_RE.search(name):
        raise InvalidName(f"artifact name {name!r} has a control character: a key cannot show it")
    try:
        size = len(name.encode())
    except UnicodeEncodeError:
        raise InvalidName(f"artifact name {name!r} is not valid UTF-8") from None
    if size > MAX_PART_BYTES:
        raise InvalidName(f"artifact name part is longer than {MAX_PART_BYTES} bytes")
    if name.startswith(LOCAL_TMP_PREFIX):
        raise InvalidName(f"artifact names starting {LOCAL_TMP_PREFIX!r} are reserved")
    return name


def artifact_name(name: object) -> str:
    """An artifact's path below its scope (``dir/my report.txt``); the key is
    ``artifacts/<scope>/`` and this path, as it is."""
    if not isinstance(name, str):
        raise InvalidName(f"artifact name must be a string, got {type(name).__name__}")
    if name == "":
        raise InvalidName("artifact name is empty")
    for part in name.split("/"):
        artifact_part(part)
    if len(name.encode()) > MAX_ARTIFACT_PATH:
        raise InvalidName(f"artifact path is longer than {MAX_ARTIFACT_PATH} bytes")
    return name


def is_scratch(name: str) -> bool:
    """Whether ``name`` is a tool's temporary or backup file (see ``_SCRATCH_RE``)."""
    return bool(_SCRATCH_RE.fullmatch(name))


def visible(kind: str, n: str) -> str:
    """A name that shows as what it is: every other character a key can hold
    is fine (spaces, non-ASCII: ``my key``, ``résumé``)."""
    if any(unicodedata.category(c) in _INVISIBLE for c in n):
        raise InvalidName(f"{kind} {n!r} has a control or invisible character")
    if _PATTERN_CHARS.intersection(n):
        # a shell expands them: `cat steps/*/status` must find no step named `*`
        raise InvalidName(f"{kind} {n!r} has one of * ? [ ], which a shell takes for a pattern")
    if n != n.strip():
        raise InvalidName(f"{kind} {n!r} starts or ends with white space, which no listing shows")
    if n.startswith("-"):
        raise InvalidName(f"{kind} {n!r} starts with '-', which commands take for an option")
    if unicodedata.normalize("NFC", n) != n:
        raise InvalidName(f"{kind} {n!r} is not in Unicode normal form NFC (write it composed)")
    try:
        n.encode()
    except UnicodeEncodeError:
        raise InvalidName(f"{kind} {n!r} is not valid UTF-8") from None
    return n


def reservation_name(name: object) -> str:
    """A file reservation's name (``reservations/<name>``)."""
    return _segment("reservation name", name)


def step_id(name: object) -> str:
    """Check a step id that must already be in normal form."""
    n = _common("step id", name)
    if "." in n:
        raise InvalidName(f"step id {n!r} contains '.', use '-' (the CLI maps '.' to '-')")
    if n != n.lower():
        raise InvalidName(f"step id {n!r} has upper case; step ids are lower case")
    return visible("step id", n)


def memory_part(name: object) -> str:
    n = _common("memory key part", name)
    if "." in n:
        raise InvalidName(
            f"memory key part {n!r} contains '.', the CLI's separator: use a directory"
        )
    return visible("memory key part", n)


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

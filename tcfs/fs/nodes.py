"""Pure path -> node resolution: what a path in the mount *is*.

A path is a tuple of names below the mountpoint (``("steps", "s1", "claim")``).
``classify`` decides its kind from the names alone, checking every name with the
naming rules, so a bad name is ``EINVAL`` before any request is sent and never
becomes a key.  The one question names cannot answer is whether
``memory/a/b`` is a value or a directory: that is ``MEMORY_ENTRY`` here and the
core asks the bucket.  Nothing in this module does I/O.
"""

from __future__ import annotations

import enum
import stat
from dataclasses import dataclass

from tcfs import names
from tcfs.errors import InvalidName, NotFound
from tcfs.protocol.sessions import check_name as session_name

Path = tuple[str, ...]


class Kind(enum.Enum):
    ROOT = "root"
    README = "readme"
    AGENTS = "agents"
    AGENT = "agent"
    STEPS = "steps"
    STEP = "step"
    CLAIM = "claim"
    STATUS = "status"
    HANDOFF = "handoff"
    WAIT = "wait"
    MEMORY_ROOT = "memory-root"
    MEMORY_ENTRY = "memory-entry"  # unresolved: the core decides value or directory
    MEMORY_DIR = "memory-dir"
    MEMORY_VALUE = "memory-value"
    INBOX = "inbox"
    INBOX_MSG = "inbox-msg"
    INBOX_NEXT = "inbox-next"
    OUTBOX = "outbox"
    OUTBOX_MSG = "outbox-msg"
    ARTIFACTS = "artifacts"
    SCOPE = "artifact-scope"
    ARTIFACT = "artifact"
    SESSIONS = "sessions"
    HARNESS = "harness"
    SESSION = "session"


DIRS = frozenset(
    {
        Kind.ROOT,
        Kind.AGENTS,
        Kind.STEPS,
        Kind.STEP,
        Kind.MEMORY_ROOT,
        Kind.MEMORY_DIR,
        Kind.INBOX,
        Kind.OUTBOX,
        Kind.ARTIFACTS,
        Kind.SCOPE,
        Kind.SESSIONS,
        Kind.HARNESS,
    }
)

#: files a user may write (what ``write``/``create`` do differs per kind)
WRITABLE = frozenset(
    {
        Kind.CLAIM,
        Kind.STATUS,
        Kind.HANDOFF,
        Kind.MEMORY_VALUE,
        Kind.OUTBOX_MSG,
        Kind.ARTIFACT,
    }
)

#: directories a user may create files in (and the kind of file created)
CREATES = {
    Kind.STEP: (Kind.CLAIM, Kind.STATUS, Kind.HANDOFF),
    Kind.MEMORY_ROOT: (Kind.MEMORY_VALUE,),
    Kind.MEMORY_DIR: (Kind.MEMORY_VALUE,),
    Kind.OUTBOX: (Kind.OUTBOX_MSG,),
    Kind.SCOPE: (Kind.ARTIFACT,),
}

#: files whose content changes under the kernel's feet: never cached, read to EOF
#: whatever size ``stat`` says (direct I/O)
DIRECT_IO = frozenset(
    {
        Kind.README,
        Kind.AGENT,
        Kind.CLAIM,
        Kind.STATUS,
        Kind.HANDOFF,
        Kind.WAIT,
        Kind.MEMORY_VALUE,
        Kind.INBOX_MSG,
        Kind.INBOX_NEXT,
        Kind.OUTBOX_MSG,
    }
)

#: blocking files: resolvable by name, never listed
HIDDEN = frozenset({Kind.WAIT, Kind.INBOX_NEXT})

ROOT_ENTRIES = {
    "README": Kind.README,
    "agents": Kind.AGENTS,
    "steps": Kind.STEPS,
    "memory": Kind.MEMORY_ROOT,
    "inbox": Kind.INBOX,
    "outbox": Kind.OUTBOX,
    "artifacts": Kind.ARTIFACTS,
    "sessions": Kind.SESSIONS,
}
STEP_ENTRIES = {
    "claim": Kind.CLAIM,
    "status": Kind.STATUS,
    "handoff": Kind.HANDOFF,
    "wait": Kind.WAIT,
}
SHARED_SCOPE = "shared"
SESSION_SUFFIX = ".jsonl"
AGENT_SUFFIX = ".json"
#: the longest name the kernel passes on (NAME_MAX); longer ones never reach us
NAME_MAX = 255


@dataclass(frozen=True)
class Node:
    """A classified path."""

    kind: Kind
    path: Path

    @property
    def is_dir(self) -> bool:
        return self.kind in DIRS

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else ""

    # convenience accessors for the parts a kind carries
    @property
    def step(self) -> str:
        return self.path[1]

    @property
    def memory_key(self) -> tuple[str, ...]:
        return self.path[1:]

    @property
    def scope(self) -> str:
        return self.path[1]

    @property
    def harness(self) -> str:
        return self.path[1]

    @property
    def session_id(self) -> str:
        return self.path[2][: -len(SESSION_SUFFIX)]

    @property
    def agent_id(self) -> str:
        return self.path[1][: -len(AGENT_SUFFIX)]


def is_namespace(memory_key: tuple[str, ...]) -> bool:
    """A name directly under ``memory/`` is a directory as soon as it is named,
    like ``steps/<id>/``; deeper names exist only once something is stored."""
    return len(memory_key) == 1


def mode_of(kind: Kind) -> int:
    """Permission bits shown by ``ls -l``: writable paths 0644, the rest read-only."""
    if kind in DIRS:
        writable_dir = kind in CREATES or kind is Kind.STEPS or kind is Kind.ARTIFACTS
        return stat.S_IFDIR | (0o755 if writable_dir else 0o555)
    if kind is Kind.OUTBOX_MSG:
        return stat.S_IFREG | 0o200
    return stat.S_IFREG | (0o644 if kind in WRITABLE else 0o444)


def _scope(name: str) -> str:
    return SHARED_SCOPE if name == SHARED_SCOPE else names.step_id(name)


def _not_found(path: Path) -> NotFound:
    return NotFound(f"no such path: {'/'.join(path)}")


def check_name(name: str) -> str:
    """Rules every name obeys before kind-specific checks."""
    if name in ("", ".", ".."):
        raise InvalidName(f"{name!r} is not a usable name here")
    if "/" in name or "\0" in name:
        raise InvalidName(f"{name!r} is not one path segment")
    return name


def classify(path: Path) -> Node:
    """The node at ``path``; ``InvalidName`` (EINVAL) or ``NotFound`` (ENOENT)."""
    for n in path:
        check_name(n)
    depth = len(path)
    if depth == 0:
        return Node(Kind.ROOT, path)
    top = path[0]
    if top not in ROOT_ENTRIES:
        raise _not_found(path)
    kind = ROOT_ENTRIES[top]
    if depth == 1:
        return Node(kind, path)
    if kind is Kind.README:
        raise _not_found(path)

    if kind is Kind.AGENTS:
        if depth > 2 or not path[1].endswith(AGENT_SUFFIX):
            raise _not_found(path)
        names.agent_id(path[1][: -len(AGENT_SUFFIX)])
        return Node(Kind.AGENT, path)

    if kind is Kind.STEPS:
        names.step_id(path[1])
        if depth == 2:
            return Node(Kind.STEP, path)
        if depth == 3 and path[2] in STEP_ENTRIES:
            return Node(STEP_ENTRIES[path[2]], path)
        raise _not_found(path)

    if kind is Kind.MEMORY_ROOT:
        names.memory_key(path[1:])
        return Node(Kind.MEMORY_ENTRY, path)

    if kind is Kind.INBOX:
        if depth > 2:
            raise _not_found(path)
        if path[1] == "next":
            return Node(Kind.INBOX_NEXT, path)
        if path[1].startswith("_"):
            raise InvalidName(f"{path[1]!r}: names starting with '_' are reserved")
        return Node(Kind.INBOX_MSG, path)

    if kind is Kind.OUTBOX:
        if depth > 2:
            raise _not_found(path)
        names.recipient(path[1])
        return Node(Kind.OUTBOX_MSG, path)

    if kind is Kind.ARTIFACTS:
        _scope(path[1])
        if depth == 2:
            return Node(Kind.SCOPE, path)
        if depth == 3:
            names.artifact_name(path[2])
            return Node(Kind.ARTIFACT, path)
        raise _not_found(path)

    if kind is Kind.SESSIONS:
        session_name("harness", path[1])
        if depth == 2:
            return Node(Kind.HARNESS, path)
        if depth == 3 and path[2].endswith(SESSION_SUFFIX):
            session_name("session id", path[2][: -len(SESSION_SUFFIX)])
            return Node(Kind.SESSION, path)
        raise _not_found(path)

    raise _not_found(path)  # pragma: no cover - every root entry is handled above


def child_kind_for_create(parent: Node, name: str) -> Node:
    """The node a ``create``/``mkdir`` of ``name`` under ``parent`` would make."""
    node = classify((*parent.path, name))
    if node.kind is Kind.MEMORY_ENTRY:
        return Node(Kind.MEMORY_VALUE, node.path)
    return node

"""The node-type table: which class each path of the mount is.

``TABLE`` lists every path kind as a pattern.  A fixed segment matches
itself; ``<x>`` matches a name that passes the rule in ``SEGMENTS`` (a bad
name is ``EINVAL`` before any request, and never becomes a key); ``<x>...``
matches one or more such names; a scratch name (an editor's or a tool's
temporary file) in a directory whose kind keeps them is a ``Scratch``
(``kinds/scratch.py``) before any pattern.  A fixed name wins over a pattern
(``inbox/next`` over ``inbox/<message>``).  A directory's fixed children
are, in table order, its default listing.  Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tcfs import names
from tcfs.errors import InvalidArgument, InvalidName, NotFound
from tcfs.fs.kinds import (
    agents,
    artifacts,
    events,
    guests,
    inbox,
    memory,
    outbox,
    reservations,
    root,
    scratch,
    sessions,
    steps,
)
from tcfs.fs.nodes import Dir, Node, Path
from tcfs.fs.refusals import FILE_NAME
from tcfs.protocol import sessions as session_names

TABLE: list[tuple[str, type[Node]]] = [
    ("", root.Root),
    ("README", root.Readme),
    (FILE_NAME, root.Why),
    ("events", events.EventsFile),
    ("agents", agents.AgentsDir),
    ("agents/<agent>.json", agents.AgentFile),
    ("steps", steps.StepsDir),
    ("steps/<step>", steps.StepDir),
    ("steps/<step>/claim", steps.Claim),
    ("steps/<step>/status", steps.Status),
    ("steps/<step>/handoff", steps.Handoff),
    ("steps/<step>/wait", steps.Wait),
    ("memory", memory.MemoryRoot),
    ("memory/<part>...", memory.MemoryEntry),
    ("inbox", inbox.Inbox),
    ("inbox/next", inbox.InboxNext),
    ("inbox/unread", inbox.InboxUnread),
    ("inbox/ack", inbox.InboxAck),
    ("inbox/<message>", inbox.InboxMessage),
    ("outbox", outbox.Outbox),
    ("outbox/<recipient>", outbox.OutboxMessage),
    ("artifacts", artifacts.ArtifactsDir),
    ("artifacts/<scope>", artifacts.Scope),
    ("artifacts/<scope>/<artifact>...", artifacts.ArtifactEntry),
    ("reservations", reservations.ReservationsDir),
    ("reservations/check", reservations.ReservationsCheck),
    ("reservations/<reservation>", reservations.Reservation),
    ("sessions", sessions.SessionsDir),
    ("sessions/<harness>", sessions.Harness),
    ("sessions/<harness>/<session>.jsonl", sessions.Session),
    # what a sandbox makes at the root (``.git``, ``.codex``, ...): this mount's only
    ("<guest>", guests.GuestEntry),
    ("<guest>/<inner>...", guests.GuestEntry),
]

#: the longest name the kernel passes on (NAME_MAX); longer ones never reach us
NAME_MAX = 255
#: what a shell's glob patterns are made of; no rule below allows them in a name
GLOB_CHARS = frozenset("*?[")

Check = Callable[[str], object]


def _suffixed(suffix: str, check: Check) -> Check:
    def run(name: str) -> object:
        if not name.endswith(suffix):
            raise NotFound(f"{name!r}: only *{suffix} names exist here")
        return check(name[: -len(suffix)])

    return run


def _message(name: str) -> str:
    if name.startswith("_"):
        raise InvalidName(f"{name!r}: names starting with '_' are reserved")
    return name


SEGMENTS: dict[str, Check] = {
    "<agent>.json": _suffixed(".json", names.agent_id),
    "<step>": names.step_id,
    "<part>": names.memory_part,
    "<message>": _message,
    "<recipient>": names.recipient,
    "<reservation>": names.reservation_name,
    "<scope>": artifacts.check_scope,
    "<artifact>": names.artifact_part,
    "<harness>": lambda n: session_names.check_name("harness", n),
    "<session>.jsonl": _suffixed(".jsonl", lambda n: session_names.check_name("session id", n)),
    "<guest>": guests.is_guest_name,
    "<inner>": str,
}


@dataclass
class _Branch:
    kind: type[Node] | None = None
    fixed: dict[str, _Branch] = field(default_factory=dict)
    #: by segment pattern (``<step>``), in table order
    patterns: dict[str, tuple[Check, _Branch]] = field(default_factory=dict)


def build(table: list[tuple[str, type[Node]]]) -> _Branch:
    """The lookup tree of a table (``TABLE``, or a test's extension of it)."""
    top = _Branch()
    for pattern, kind in table:
        branch = top
        for seg in pattern.split("/") if pattern else ():
            if not seg.startswith("<"):
                branch = branch.fixed.setdefault(seg, _Branch())
                continue
            name = seg.removesuffix("...")
            if name not in branch.patterns:
                nxt = _Branch()
                if seg.endswith("..."):  # the same rule again, any number of times
                    nxt.patterns[name] = (SEGMENTS[name], nxt)
                branch.patterns[name] = (SEGMENTS[name], nxt)
            branch = branch.patterns[name][1]
        branch.kind = kind
    return top


_TOP = build(TABLE)


def is_glob(name: str) -> bool:
    """Whether ``name`` is a shell pattern (one that matched nothing)."""
    return not GLOB_CHARS.isdisjoint(name)


def _check_segment(name: str) -> None:
    """Rules every name obeys before a kind's own."""
    if name in ("", ".", ".."):
        raise InvalidName(f"{name!r} is not a usable name here")
    if "/" in name or "\0" in name:
        raise InvalidName(f"{name!r} is not one path segment")


def _walk(path: Path) -> _Branch:
    branch = _TOP
    for name in path:
        _check_segment(name)
        nxt = branch.fixed.get(name)
        if nxt is None:
            error: Exception | None = None
            for check, candidate in branch.patterns.values():
                try:
                    check(name)
                except (InvalidArgument, NotFound) as exc:
                    error = error or exc
                    continue
                nxt = candidate
                break
            if nxt is None:
                raise error or NotFound(f"no such path: {'/'.join(path)}")
        branch = nxt
    return branch


def classify(path: Path, *, scratch_names: bool = True) -> Node:
    """The node at ``path``: ``InvalidName`` (EINVAL) or ``NotFound`` (ENOENT).

    A scratch name (``names.is_scratch``) in a directory that keeps scratch
    files is a ``Scratch`` whatever else the name could be, unless
    ``scratch_names`` is False (what the path is when nothing is kept there).
    """
    if scratch_names and path and names.is_scratch(path[-1]):
        _check_segment(path[-1])
        parent = _walk(path[:-1]).kind
        if parent is not None and parent.keeps_scratch:
            return scratch.Scratch(path)
    kind = _walk(path).kind
    if kind is None:
        raise NotFound(f"no such path: {'/'.join(path)}")
    kind.check(path)
    return kind(path)


def fixed_children(node: Dir) -> list[Node]:
    """The children the table names for ``node``, in table order."""
    return [b.kind((*node.path, name)) for name, b in _walk(node.path).fixed.items() if b.kind]

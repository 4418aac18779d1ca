"""What a node needs to do its work: the project, the call runner, the
mount's poller and tailer, and the little state a mount keeps itself."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from tcfs.fs.calls import Calls
from tcfs.fs.guests import Guests
from tcfs.fs.namespaces import Namespaces
from tcfs.fs.refusals import Refusals
from tcfs.fs.scratch import Scratches
from tcfs.protocol.events.writer import EventSink, NoEvents

if TYPE_CHECKING:
    from tcfs.fs.events_feed import EventsFeed
    from tcfs.fs.nodes import Node
    from tcfs.fs.poller import Poller
    from tcfs.fs.tailer import Tailer
    from tcfs.protocol import Project

T = TypeVar("T")

#: the kernel keeps a file's entry this long; the open a lookup answered comes
#: within it (pyfuse3's default is 300 s, which defeats tail -f)
FILE_TTL_S = 0.1
#: renders kept for opens that never came are dropped beyond this many
MAX_KEPT = 1024
#: the process the current request comes from (each request runs in its task)
REQUESTER: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "tcfs_requester", default=None
)


class Versions:
    """The version (ETag) each inode's last read open saw, for the kernel's
    page cache: pages cached under one version are kept by an open of the same
    version and dropped by an open of any other."""

    def __init__(self) -> None:
        self._seen: dict[int, str] = {}

    def same(self, ino: int, etag: str | None) -> bool:
        """Whether ``etag`` is what ``ino``'s last read open saw; it now is.
        An unknown version (no ETag) is never the same."""
        if etag is None:
            self._seen.pop(ino, None)
            return False
        if len(self._seen) >= MAX_KEPT and ino not in self._seen:
            self._seen.clear()  # nothing is kept then: every open drops the pages
        last, self._seen[ino] = self._seen.get(ino), etag
        return last == etag


class RenderCache:
    """The content a lookup rendered, for the open of the same request.

    The kernel sends ``open`` right after the ``lookup`` it needed, from the
    same process.  The render is kept for that pair only: it is taken by the
    first open of the path from the requesting process, while the kernel may
    still use the lookup's entry; any other open fetches afresh, so an open
    after another mount's close sees the new data.  With the render goes the
    record it came from (a claim), for an open for writing that decides on it.
    """

    def __init__(self) -> None:
        self._kept: dict[tuple[str, ...], tuple[int | None, float, bytes, object]] = {}

    def keep(self, node: Node, body: bytes, record: object = None) -> None:
        if len(self._kept) >= MAX_KEPT:  # lookups that were never opened
            self._kept.clear()
        self._kept[node.path] = (REQUESTER.get(), trio.current_time(), body, record)

    def take_kept(self, node: Node) -> tuple[bytes, object] | None:
        """The lookup's render and the record behind it, for the open of the same command."""
        item = self._kept.pop(node.path, None)
        if item is None:
            return None
        pid, at, body, record = item
        if pid != REQUESTER.get() or trio.current_time() - at > FILE_TTL_S:
            return None
        return body, record

    def take(self, node: Node) -> bytes | None:
        item = self.take_kept(node)
        return None if item is None else item[0]

    def take_record(self, node: Node) -> object:
        """The record behind the lookup's render (None if there is none)."""
        item = self.take_kept(node)
        return None if item is None else item[1]

    def forget(self, node: Node) -> None:
        self._kept.pop(node.path, None)


class WrittenAt:
    """When computed files (a step's ``status``) were last written, as this
    mount learned it from a listing, a read or its own write: their ``stat``
    costs no request, so this is the time it shows (bounded)."""

    def __init__(self) -> None:
        self._at: dict[tuple[str, ...], float] = {}

    def note(self, path: tuple[str, ...], when: float) -> None:
        if len(self._at) >= MAX_KEPT and path not in self._at:
            self._at.clear()
        self._at[path] = when

    def get(self, path: tuple[str, ...]) -> float | None:
        return self._at.get(path)


@dataclass
class FsContext:
    project: Project
    calls: Calls
    poller: Poller
    tailer: Tailer
    readme: bytes
    spool_dir: str
    rendered: RenderCache = field(default_factory=RenderCache)
    #: what version each artifact's last read open saw (the kernel's page cache)
    versions: Versions = field(default_factory=Versions)
    #: memory directories made with mkdir that hold no value yet (this mount only)
    memory_dirs: set[tuple[str, ...]] = field(default_factory=set)
    #: artifact directories made with mkdir that hold no artifact yet (this mount only)
    artifact_dirs: set[tuple[str, ...]] = field(default_factory=set)
    #: files created under scratch names (tools' temporary files): this mount's only
    scratch: Scratches = field(default_factory=Scratches)
    #: where the mount records each action that succeeded (the event log)
    events: EventSink = field(default_factory=NoEvents)
    #: the ``events`` file's lines, read while someone has it open
    feed: EventsFeed | None = None
    #: which names directly under memory/ are namespaces (no one-part key)
    namespaces: Namespaces = field(default_factory=Namespaces)
    #: what sandboxes made at the root (``.git``, ...): this mount's memory only
    guests: Guests = field(default_factory=Guests)
    #: when computed files were last written, as far as this mount knows
    written_at: WrittenAt = field(default_factory=WrittenAt)
    #: the last refusals, for the ``why`` file and ``tcfs status``
    refusals: Refusals = field(default_factory=Refusals)

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """A protocol read, off the trio loop, under the call deadline."""
        return await self.calls.run(fn, *args, timeout=timeout)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """A protocol call that changes the bucket: waited for to its end."""
        return await self.calls.write(fn, *args)

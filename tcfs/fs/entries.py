"""What exists in the bucket: stat and list each kind of node.

``Entries`` answers two questions with as few requests as it can: "does this
node exist, and how big is it?" (``resolve``) and "what is in this directory?"
(``list``).  Sizes that would cost a request per entry in a listing are left
unknown; the adapter gives those entries a zero attribute timeout, so the
kernel asks again (one ``getattr``) before it relies on the size.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tcfs.errors import CorruptObject, NotFound
from tcfs.fs import nodes
from tcfs.fs.nodes import Kind, Node
from tcfs.protocol import keys
from tcfs.store.base import ObjectInfo

if TYPE_CHECKING:
    from tcfs.fs.calls import Calls
    from tcfs.fs.tailer import Tailer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stat:
    """A node that exists, with its size when known."""

    node: Node
    size: int | None = 0
    mtime: float | None = None


class Entries:
    def __init__(self, project: Any, calls: Calls, tailer: Tailer, readme: bytes) -> None:
        self.p = project
        self.calls = calls
        self.tailer = tailer
        self.readme = readme
        #: memory directories made with mkdir that hold no value yet (this mount only)
        self.local_dirs: set[tuple[str, ...]] = set()
        #: content rendered by a lookup, for the open that follows it
        self._rendered: dict[tuple[str, ...], tuple[bytes, float]] = {}

    # ----- content a lookup already fetched -----

    def _keep(self, node: Node, body: bytes, keep: bool) -> int:
        if keep:
            self._rendered[node.path] = (body, time.monotonic())
        return len(body)

    def take_rendered(self, node: Node, max_age: float) -> bytes | None:
        """What the lookup right before this open fetched, used once and only
        within ``max_age``: ``cat`` then costs one GET, not two."""
        item = self._rendered.pop(node.path, None)
        if len(self._rendered) > 1024:  # lookups that were never opened
            self._rendered.clear()
        if item is None or time.monotonic() - item[1] > max_age:
            return None
        return item[0]

    def forget_rendered(self, path: tuple[str, ...]) -> None:
        self._rendered.pop(path, None)

    # ----- one node -----

    async def resolve(self, node: Node, *, keep: bool = False) -> Stat:
        """``NotFound`` if the node does not exist; sizes rendered where cheap.

        ``keep``: remember the rendered content for an open that follows at once
        (lookups only: a ``getattr`` is not followed by an open).
        """
        k = node.kind
        run = self.calls.run
        if node.is_dir:
            return Stat(node)
        if k is Kind.README:
            return Stat(node, len(self.readme))
        if k in (Kind.STATUS, Kind.WAIT, Kind.INBOX_NEXT):
            return Stat(node, 0)  # computed files: read them to the end
        if k is Kind.OUTBOX_MSG:
            raise NotFound(f"{'/'.join(node.path)}: the outbox is write-only (create a file)")
        try:
            if k is Kind.AGENT:
                rec = await run(self.p.agents.get, node.agent_id)
                return Stat(node, self._keep(node, self.p.agents.render(rec), keep))
            if k is Kind.CLAIM:
                claim = await run(self.p.steps.read_claim, node.step)
                return Stat(node, self._keep(node, claim.render(), keep))
            if k is Kind.HANDOFF:
                doc = await run(self.p.steps.read_handoff, node.step)
                return Stat(node, self._keep(node, self.p.steps.render_handoff(doc), keep))
            if k is Kind.INBOX_MSG:
                msg = await run(self.p.messages.read, node.name)
                return Stat(node, self._keep(node, msg.render(), keep))
            if k is Kind.ARTIFACT:
                info = await run(self.p.artifacts.head, node.scope, node.name)
                return Stat(node, info.size, info.mtime)
            if k is Kind.SESSION:
                parts = await self.tailer.parts(node.harness, node.session_id)
                from tcfs.fs.tailer import total_size

                return Stat(node, total_size(parts))
            if k in (Kind.MEMORY_ENTRY, Kind.MEMORY_VALUE):
                return await self._memory(node, keep)
        except CorruptObject as exc:
            # The object exists but is not what the layout says: show it, and
            # let reading it fail with EIO (logged there), so ls keeps working.
            log.debug("%s: %s", "/".join(node.path), exc)
            kind = Kind.MEMORY_VALUE if k is Kind.MEMORY_ENTRY else k
            return Stat(Node(kind, node.path), 0)
        raise NotFound("/".join(node.path))

    async def _memory(self, node: Node, keep: bool) -> Stat:
        key = node.memory_key
        if node.kind is Kind.MEMORY_ENTRY and key in self.local_dirs:
            return Stat(Node(Kind.MEMORY_DIR, node.path))
        try:
            value = await self.calls.run(self.p.memory.get, key)
            found = Node(Kind.MEMORY_VALUE, node.path)
            return Stat(found, self._keep(found, value.render(), keep))
        except NotFound:
            if node.kind is Kind.MEMORY_VALUE:
                raise
        # A name directly under memory/ is a namespace that exists as soon as it
        # is named, like steps/<id>/: `echo v > memory/design/status` works
        # without mkdir.  The kernel's lookup does not say whether a name is a
        # directory on the way or the file to create, so deeper names stay absent
        # until something is stored, and a new one-part key is made with the CLI.
        if nodes.is_namespace(key) or await self.calls.run(self.p.memory.has_children, key):
            return Stat(Node(Kind.MEMORY_DIR, node.path))
        raise NotFound(f"no memory key {'.'.join(key)}")

    # ----- one directory -----

    async def list(self, node: Node) -> list[Stat]:
        k = node.kind
        run = self.calls.run
        path = node.path
        out: list[Stat] = []

        def add(kind: Kind, name: str, size: int | None = None, mtime: float | None = None) -> None:
            out.append(Stat(Node(kind, (*path, name)), size, mtime))

        if k is Kind.ROOT:
            for name, kind in nodes.ROOT_ENTRIES.items():
                add(kind, name, len(self.readme) if kind is Kind.README else 0)
        elif k is Kind.AGENTS:
            for aid in await run(self.p.agents.list):
                add(Kind.AGENT, aid + nodes.AGENT_SUFFIX)
        elif k is Kind.STEPS:
            for sid in await run(self.p.steps.list):
                add(Kind.STEP, sid, 0)
        elif k is Kind.STEP:
            present = await run(self._step_records, node.step)
            if "claim.json" in present:
                add(Kind.CLAIM, "claim")
            if "handoff.json" in present:
                add(Kind.HANDOFF, "handoff")
            add(Kind.STATUS, "status", 0)
        elif k in (Kind.MEMORY_ROOT, Kind.MEMORY_DIR):
            key = node.memory_key
            values, dirs = await run(self.p.memory.list, key)
            local = {
                d[len(key)] for d in self.local_dirs if len(d) > len(key) and d[: len(key)] == key
            }
            subdirs = set(dirs) | local
            for d in sorted(subdirs):
                add(Kind.MEMORY_DIR, d, 0)
            for v in values:
                if v not in subdirs:  # a key that is also a prefix shows as a directory
                    add(Kind.MEMORY_VALUE, v)
        elif k is Kind.INBOX:
            for name in await run(self.p.messages.inbox):
                add(Kind.INBOX_MSG, name)
        elif k is Kind.OUTBOX:
            pass  # write-only: each file written there is sent and gone
        elif k is Kind.ARTIFACTS:
            scopes = set(await run(self.p.artifacts.scopes)) | {nodes.SHARED_SCOPE}
            for s in sorted(scopes):
                add(Kind.SCOPE, s, 0)
        elif k is Kind.SCOPE:
            for info in await run(self.p.artifacts.list, node.scope):
                add(Kind.ARTIFACT, info.key, info.size, info.mtime)
        elif k is Kind.SESSIONS and self.tailer.reader is not None:
            for h in await run(self.tailer.reader.harnesses):
                add(Kind.HARNESS, h, 0)
        elif k is Kind.HARNESS and self.tailer.reader is not None:
            for sid in await run(self.tailer.reader.sessions, node.harness):
                add(Kind.SESSION, sid + nodes.SESSION_SUFFIX)
        return [s for s in out if _valid(s.node)]

    def _step_records(self, step: str) -> set[str]:
        """Which of a step's records exist: one LIST instead of a GET each."""
        prefix = keys.claim_key(step).rsplit("/", 1)[0] + "/"
        return {
            e.key[len(prefix) :]
            for e in self.p.store.list(prefix, delimiter="/")
            if isinstance(e, ObjectInfo)
        }


def _valid(node: Node) -> bool:
    """Entries written by others that break the naming rules are not shown."""
    try:
        nodes.classify(node.path)
    except Exception:
        log.debug("hiding entry with a name tcfs does not accept: %r", node.path)
        return False
    return True

"""The inode table: stable inode numbers for paths, and kernel lookup counts.

Counting follows pyfuse3's contract exactly: every entry-returning operation
(``lookup``, ``create``, ``mkdir``, and ``readdir`` once ``readdir_reply``
returned True) adds one; ``forget`` subtracts what the kernel says.  An inode
is dropped when the kernel has forgotten it and no handle keeps it open, so a
path that is looked up again gets a fresh number, never a reused one.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from tcfs.fs.kinds.root import Root
from tcfs.fs.nodes import Node, Path

log = logging.getLogger(__name__)

ROOT_INODE = 1


@dataclass
class Inode:
    ino: int
    node: Node
    lookups: int = 0
    opens: int = 0

    @property
    def path(self) -> Path:
        return self.node.path


class InodeTable:
    def __init__(self) -> None:
        self._by_ino: dict[int, Inode] = {}
        self._by_path: dict[Path, int] = {}
        self._next = itertools.count(ROOT_INODE + 1)
        root = Inode(ROOT_INODE, Root(()), lookups=1)
        self._by_ino[ROOT_INODE] = root
        self._by_path[()] = ROOT_INODE

    def __len__(self) -> int:
        return len(self._by_ino)

    def get(self, ino: int) -> Inode | None:
        return self._by_ino.get(ino)

    def find(self, path: Path) -> Inode | None:
        ino = self._by_path.get(path)
        return None if ino is None else self._by_ino[ino]

    def ensure(self, node: Node) -> Inode:
        """The inode for ``node`` without counting a lookup (readdir before the
        reply is accepted).  A path whose kind changed (a memory value that became
        a directory) gets a new inode; the old one lives until it is forgotten."""
        ino = self._by_path.get(node.path)
        if ino is not None:
            entry = self._by_ino[ino]
            if type(entry.node) is type(node):
                return entry
        entry = Inode(next(self._next), node)
        self._by_ino[entry.ino] = entry
        self._by_path[node.path] = entry.ino
        return entry

    def ref(self, node: Node) -> Inode:
        """An entry-returning operation succeeded: count one lookup."""
        entry = self.ensure(node)
        entry.lookups += 1
        return entry

    def incref(self, ino: int) -> None:
        entry = self._by_ino.get(ino)
        if entry is not None:
            entry.lookups += 1

    def move(self, old: Path, node: Node) -> None:
        """A rename: the inode of ``old`` now names ``node`` (as the kernel's
        entry does); a file it replaced keeps its number until forgotten."""
        ino = self._by_path.pop(old, None)
        if ino is None:
            return
        entry = self._by_ino[ino]
        entry.node = node
        self._by_path[node.path] = ino

    def forget(self, ino: int, n: int) -> None:
        entry = self._by_ino.get(ino)
        if entry is None or ino == ROOT_INODE:
            return
        entry.lookups = max(0, entry.lookups - n)
        self._maybe_drop(entry)

    def opened(self, ino: int) -> None:
        entry = self._by_ino.get(ino)
        if entry is not None:
            entry.opens += 1

    def closed(self, ino: int) -> None:
        entry = self._by_ino.get(ino)
        if entry is not None:
            entry.opens = max(0, entry.opens - 1)
            self._maybe_drop(entry)

    def _maybe_drop(self, entry: Inode) -> None:
        if entry.lookups or entry.opens or entry.ino == ROOT_INODE:
            return
        del self._by_ino[entry.ino]
        if self._by_path.get(entry.path) == entry.ino:
            del self._by_path[entry.path]

    def prune_unreferenced(self) -> int:
        """Drop inodes handed to readdir but never acknowledged by the kernel."""
        dead = [e for e in self._by_ino.values() if not e.lookups and not e.opens]
        for e in dead:
            self._maybe_drop(e)
        return len(dead)

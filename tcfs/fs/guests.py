"""What sandboxes made at the mount's root (``.git``, ``.codex``, ...): the
paths, kept in this mount's memory only (``kinds/guests.py`` is their kind)."""

from __future__ import annotations

from tcfs.errors import Exists, IsADirectory, NotADirectory, NotEmpty, NotFound

Path = tuple[str, ...]


class Guests:
    """The guest paths of one mount: each a directory or an empty file."""

    def __init__(self) -> None:
        self._dirs: set[Path] = set()
        self._files: set[Path] = set()

    def kind_of(self, path: Path) -> str | None:
        """``"dir"``, ``"file"``, or None for no guest at ``path``."""
        if path in self._dirs:
            return "dir"
        if path in self._files:
            return "file"
        return None

    def add(self, path: Path, *, is_dir: bool) -> None:
        parent = path[:-1]
        if len(parent) > 0 and parent not in self._dirs:
            raise NotFound(f"no such directory: {'/'.join(parent)}")
        if self.kind_of(path) is not None:
            raise Exists(f"{'/'.join(path)} exists")
        (self._dirs if is_dir else self._files).add(path)

    def children(self, path: Path) -> list[Path]:
        depth = len(path) + 1
        return sorted(p for p in self._dirs | self._files if len(p) == depth and p[:-1] == path)

    def remove(self, path: Path, *, is_dir: bool) -> None:
        kind = self.kind_of(path)
        if kind is None:
            raise NotFound(f"no such path: {'/'.join(path)}")
        if (kind == "dir") != is_dir:
            raise (NotADirectory if is_dir else IsADirectory)(f"{'/'.join(path)}: wrong kind")
        if self.children(path):
            raise NotEmpty(f"{'/'.join(path)} is not empty")
        (self._dirs if is_dir else self._files).discard(path)

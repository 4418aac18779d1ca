"""Files kept on this mount only: tools' temporary and backup files.

``sed -i``, Python's write-temp-then-``os.replace``, rsync and editors write a
file under a scratch name (``tcfs.names.is_scratch``) and rename it onto the
real one.  Such a file is spooled here, never in the bucket and never an
event: the rename commits its content as one value or one artifact, and an
unlink makes it vanish.  Each lives in a private unnamed temporary file.

A name is a scratch name by its form alone, so an artifact really meant to
have one (``.env.sample`` copied with ``cp``) is published under it once it
has been closed ``LINGER_S`` seconds and neither renamed nor removed
(``kinds/scratch.py``), or when the mount ends.  In ``memory/`` a scratch file stays on this mount
until it is renamed or removed, or the mount ends: no memory key is named like
a tool's temporary file, and an editor's backup or auto-save file
(``db~``, ``#db#``) left beside a value must not become a key.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import trio

from tcfs.errors import NotFound
from tcfs.fs.handles import Handle

Path = tuple[str, ...]

#: a closed scratch file left alone this long was meant to have its name
LINGER_S = 2.0


@dataclass(eq=False)
class ScratchFile:
    spool: BinaryIO
    size: int = 0
    mtime: float = field(default_factory=time.time)
    #: open handles; an unlinked file is closed when the last one is
    opens: int = 0
    unlinked: bool = False
    #: a rename is committing it (it may take an upload's time)
    renaming: bool = False

    def close_if_done(self) -> None:
        if self.unlinked and not self.opens:
            self.spool.close()

    async def resize(self, size: int) -> None:
        await trio.to_thread.run_sync(os.ftruncate, self.spool.fileno(), size)
        self.size = size
        self.mtime = time.time()

    def reader(self) -> BinaryIO:
        """A file object of its own over the content (the caller closes it)."""
        dup: BinaryIO = os.fdopen(os.dup(self.spool.fileno()), "rb")
        dup.seek(0)
        return dup


class Scratches:
    """The scratch files of this mount, by path."""

    def __init__(self) -> None:
        self._files: dict[Path, ScratchFile] = {}

    def get(self, path: Path) -> ScratchFile | None:
        return self._files.get(path)

    def idle(self) -> list[Path]:
        """The scratch files no one has open or is renaming."""
        return [p for p, f in self._files.items() if not f.opens and not f.renaming]

    def in_dir(self, directory: Path) -> list[tuple[Path, ScratchFile]]:
        """The scratch files directly in ``directory``, by name."""
        n = len(directory) + 1
        return sorted((p, f) for p, f in self._files.items() if len(p) == n and p[:-1] == directory)

    def create(self, path: Path, spool_dir: str) -> ScratchFile:
        found = self._files.get(path)
        if found is None:
            spool = tempfile.TemporaryFile(dir=spool_dir or None)  # noqa: SIM115
            found = self._files[path] = ScratchFile(spool)
        return found

    def adopt(self, path: Path, spool: BinaryIO, size: int) -> ScratchFile:
        """``path`` now holds ``spool`` (a file renamed onto a scratch name)."""
        self.drop(path, missing_ok=True)
        file = self._files[path] = ScratchFile(spool, size)
        return file

    def drop(self, path: Path, *, missing_ok: bool = False) -> None:
        file = self._files.pop(path, None)
        if file is None:
            if missing_ok:
                return
            raise NotFound(f"no such file: {'/'.join(path)}")
        file.unlinked = True
        file.close_if_done()

    def move(self, old: Path, new: Path) -> None:
        file = self._files.pop(old, None)
        if file is None:
            raise NotFound(f"no such file: {'/'.join(old)}")
        self.drop(new, missing_ok=True)
        self._files[new] = file


class ScratchHandle(Handle):
    """Reads and writes a scratch file's spool at any offset."""

    def __init__(
        self,
        ino: int,
        file: ScratchFile,
        *,
        append: bool = False,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(ino)
        self.file = file
        self._append = append
        self._on_idle = on_idle
        file.opens += 1

    def _fd(self) -> int:
        return self.file.spool.fileno()

    async def read(self, off: int, size: int) -> bytes:
        return await trio.to_thread.run_sync(os.pread, self._fd(), size, off)

    async def write(self, off: int, buf: bytes) -> int:
        file = self.file
        if self._append:
            off = file.size
        await trio.to_thread.run_sync(os.pwrite, self._fd(), buf, off)
        file.size = max(file.size, off + len(buf))
        file.mtime = time.time()
        return len(buf)

    async def truncate(self, size: int) -> None:
        await self.file.resize(size)

    async def release(self) -> None:
        self.file.opens -= 1
        self.file.close_if_done()
        if not self.file.opens and not self.file.unlinked and self._on_idle is not None:
            self._on_idle()

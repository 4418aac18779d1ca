"""The thin pyfuse3 adapter: converts types, and errors at one boundary.

Each handler calls the core and converts its answer.  ``_boundary`` is the one
place a ``TcfsError`` becomes ``FUSEError(errno)``, logged at the error's level;
any other exception is a bug or bad data we did not foresee: it is logged with
its traceback and answered with ``EIO``, and the mount stays up.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pyfuse3
import trio

from tcfs.errors import TcfsError
from tcfs.fs.core import Attr, FsCore, Opened

log = logging.getLogger(__name__)

T = TypeVar("T")


def _boundary(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return await fn(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except TcfsError as exc:
            log.log(
                exc.level,
                "%s: %s (%s)",
                fn.__name__,
                exc,
                errno.errorcode.get(exc.errno, exc.errno),
            )
            raise pyfuse3.FUSEError(exc.errno) from None
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception:
            log.exception("%s failed unexpectedly", fn.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


def entry_attributes(a: Attr) -> pyfuse3.EntryAttributes:
    e = pyfuse3.EntryAttributes()
    e.st_ino = a.ino
    e.generation = 0
    e.entry_timeout = a.entry_timeout
    e.attr_timeout = a.attr_timeout
    e.st_mode = a.mode
    e.st_nlink = 2 if a.mode & 0o040000 else 1
    e.st_uid = a.uid
    e.st_gid = a.gid
    e.st_rdev = 0
    e.st_size = a.size
    e.st_blksize = 4096
    e.st_blocks = (a.size + 511) // 512
    ns = int(a.mtime * 1e9)
    e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = ns
    return e


def file_info(o: Opened) -> pyfuse3.FileInfo:
    # keep_cache is always off: another agent may have changed the object
    return pyfuse3.FileInfo(fh=o.fh, direct_io=o.direct_io, keep_cache=o.keep_cache)


def _name(raw: bytes) -> str:
    return os.fsdecode(raw)


class TcfsOperations(pyfuse3.Operations):
    """pyfuse3 handlers; all logic lives in ``FsCore``."""

    enable_writeback_cache = False  # invalidation must never wait on dirty pages

    def __init__(self, core: FsCore) -> None:
        super().__init__()
        self.core = core

    @_boundary
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: Any = None
    ) -> pyfuse3.EntryAttributes:
        return entry_attributes(await self.core.lookup(parent_inode, _name(name)))

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        try:
            self.core.forget(list(inode_list))
        except Exception:  # forget must not raise
            log.exception("forget failed")

    @_boundary
    async def getattr(self, inode: int, ctx: Any = None) -> pyfuse3.EntryAttributes:
        return entry_attributes(await self.core.getattr(inode))

    @_boundary
    async def setattr(
        self, inode: int, attr: Any, fields: Any, fh: int | None, ctx: Any
    ) -> pyfuse3.EntryAttributes:
        return entry_attributes(
            await self.core.setattr(
                inode,
                size=attr.st_size if fields.update_size else None,
                mode=attr.st_mode if fields.update_mode else None,
                owner=bool(fields.update_uid or fields.update_gid),
                fh=fh,
            )
        )

    @_boundary
    async def opendir(self, inode: int, ctx: Any) -> int:
        return await self.core.opendir(inode)

    @_boundary
    async def readdir(self, fh: int, start_id: int, token: Any) -> None:
        entries = await self.core.listdir(fh, start_id)
        inodes = self.core.inodes
        for i, st in enumerate(entries, start=start_id + 1):
            # allocate right before the reply: no await between ensure and incref
            entry = inodes.ensure(st.node)
            attr = entry_attributes(self.core.attr(entry.ino, st))
            if not pyfuse3.readdir_reply(token, os.fsencode(st.node.name), attr, i):
                break
            inodes.incref(entry.ino)

    @_boundary
    async def releasedir(self, fh: int) -> None:
        await self.core.releasedir(fh)

    @_boundary
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: Any
    ) -> pyfuse3.EntryAttributes:
        return entry_attributes(await self.core.mkdir(parent_inode, _name(name)))

    @_boundary
    async def rmdir(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        await self.core.rmdir(parent_inode, _name(name))

    @_boundary
    async def unlink(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        await self.core.unlink(parent_inode, _name(name))

    @_boundary
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: Any
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        opened, attr = await self.core.create(parent_inode, _name(name), flags)
        return file_info(opened), entry_attributes(attr)

    @_boundary
    async def open(self, inode: int, flags: int, ctx: Any) -> pyfuse3.FileInfo:
        return file_info(await self.core.open(inode, flags))

    @_boundary
    async def read(self, fh: int, off: int, size: int) -> bytes:
        return await self.core.read(fh, off, size)

    @_boundary
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return await self.core.write(fh, off, buf)

    @_boundary
    async def flush(self, fh: int) -> None:
        await self.core.flush(fh)

    @_boundary
    async def fsync(self, fh: int, datasync: bool) -> None:
        await self.core.fsync(fh)

    @_boundary
    async def release(self, fh: int) -> None:
        await self.core.release(fh)

    @_boundary
    async def statfs(self, ctx: Any) -> pyfuse3.StatvfsData:
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = s.f_bfree = s.f_bavail = 1 << 30
        s.f_files = s.f_ffree = s.f_favail = 1 << 20
        s.f_namemax = 255
        return s

    # ----- what a bucket cannot do -----

    @_boundary
    async def rename(self, *args: Any) -> None:
        raise self.core.unsupported("rename")

    @_boundary
    async def link(self, *args: Any) -> pyfuse3.EntryAttributes:
        raise self.core.unsupported("hard links")

    @_boundary
    async def symlink(self, *args: Any) -> pyfuse3.EntryAttributes:
        raise self.core.unsupported("symbolic links")

    @_boundary
    async def mknod(self, *args: Any) -> pyfuse3.EntryAttributes:
        raise self.core.unsupported("special files")

    @_boundary
    async def setxattr(self, *args: Any) -> None:
        raise self.core.unsupported("extended attributes")

    @_boundary
    async def getxattr(self, *args: Any) -> bytes:
        raise pyfuse3.FUSEError(pyfuse3.ENOATTR)

    @_boundary
    async def listxattr(self, *args: Any) -> list[bytes]:
        return []

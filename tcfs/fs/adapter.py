"""The thin pyfuse3 adapter: converts types; errors go through ``boundary``.

Each handler calls the core and converts its answer.  ``_boundary`` turns what
a handler raised into ``FUSEError`` with the errno ``boundary.errno_for`` picks.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import pyfuse3
import trio

from tcfs.fs.boundary import errno_for
from tcfs.fs.core import Attr, FsCore, Opened

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def _boundary(
    fn: Callable[Concatenate[TcfsOperations, P], Awaitable[T]],
) -> Callable[Concatenate[TcfsOperations, P], Coroutine[Any, Any, T]]:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    async def wrapper(ops: TcfsOperations, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(ops, *args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:
            request = signature.bind(ops, *args, **kwargs).arguments
            ctx = request.get("ctx")
            pid = _pid(ctx) if isinstance(ctx, pyfuse3.RequestContext) else None
            raise pyfuse3.FUSEError(
                errno_for(ops.core, fn.__name__, exc, lambda: ops.path_of(request), pid)
            ) from None

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
    # keep_cache only where the open saw the version the kernel's pages are of
    return pyfuse3.FileInfo(fh=o.fh, direct_io=o.direct_io, keep_cache=o.keep_cache)


def _pid(ctx: pyfuse3.RequestContext) -> int:
    return int(ctx.pid)


def _name(raw: bytes) -> str:
    return os.fsdecode(raw)


class TcfsOperations(pyfuse3.Operations):
    """pyfuse3 handlers; all logic lives in ``FsCore``."""

    enable_writeback_cache = False  # invalidation must never wait on dirty pages

    def __init__(self, core: FsCore) -> None:
        super().__init__()
        self.core = core

    def path_of(self, request: dict[str, Any]) -> str:
        """The path a request was about, for its refusal."""
        ino = request.get("inode", request.get("parent_inode"))
        name = request.get("name")
        fh = request.get("fh")
        return self.core.path_of(
            inode=ino if isinstance(ino, int) else None,
            name=_name(name) if isinstance(name, bytes) else None,
            fh=fh if isinstance(fh, int) else None,
        )

    @_boundary
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return entry_attributes(await self.core.lookup(parent_inode, _name(name), pid=_pid(ctx)))

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        try:
            self.core.forget(list(inode_list))
        except Exception:  # forget must not raise
            log.exception("forget failed")

    @_boundary
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return entry_attributes(await self.core.getattr(inode))

    @_boundary
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        return entry_attributes(
            await self.core.setattr(
                inode,
                size=attr.st_size if fields.update_size else None,
                mode=attr.st_mode if fields.update_mode else None,
                # tar and rsync -a as root chown to the owner the file has: no change
                owner=bool(
                    (fields.update_uid and attr.st_uid != self.core.uid)
                    or (fields.update_gid and attr.st_gid != self.core.gid)
                ),
                fh=fh,
            )
        )

    @_boundary
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        return await self.core.opendir(inode)

    @_boundary
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
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
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return entry_attributes(await self.core.mkdir(parent_inode, _name(name)))

    @_boundary
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self.core.rmdir(parent_inode, _name(name))

    @_boundary
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self.core.unlink(parent_inode, _name(name))

    @_boundary
    async def create(
        self,
        parent_inode: int,
        name: bytes,
        mode: int,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        opened, attr = await self.core.create(parent_inode, _name(name), flags)
        return file_info(opened), entry_attributes(attr)

    @_boundary
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        return file_info(await self.core.open(inode, flags, pid=_pid(ctx)))

    @_boundary
    async def read(self, fh: int, off: int, size: int) -> bytes:
        # pyfuse3 takes any contiguous buffer (its stub says bytes)
        return await self.core.read(fh, off, size)  # type: ignore[return-value]

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
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = s.f_bfree = s.f_bavail = 1 << 30
        s.f_files = s.f_ffree = s.f_favail = 1 << 20
        s.f_namemax = 255
        return s

    @_boundary
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        await self.core.rename(
            parent_inode_old, _name(name_old), parent_inode_new, _name(name_new), flags
        )

    # ----- what a bucket cannot do -----

    @_boundary
    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise self.core.unsupported("hard links")

    @_boundary
    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise self.core.unsupported("symbolic links")

    @_boundary
    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise self.core.unsupported("special files")

    @_boundary
    async def setxattr(
        self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext
    ) -> None:
        raise self.core.unsupported("extended attributes")

    @_boundary
    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        raise pyfuse3.FUSEError(pyfuse3.ENOATTR)

    @_boundary
    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> Sequence[bytes]:
        return []

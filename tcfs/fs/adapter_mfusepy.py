"""The mfusepy adapter: libfuse's high-level, path-based API, for macFUSE.

pyfuse3 does not build against macFUSE; mfusepy (ctypes bindings for libfuse 2
and 3's high-level API) runs on macOS and on Linux.  Its callbacks come in
libfuse's own threads, with paths instead of inodes.  Each is handed to the
trio loop that runs the core (``trio.from_thread.run``) with the caller's pid.

Paths become the core's inodes through ``Entries``, which stands in for the
kernel's entry cache the pyfuse3 adapter relies on: a path looked up keeps its
inode (one counted lookup) for the core's entry timeout, so a directory that
exists only while named (``steps/<id>``, ``memory/<ns>``) is found again as the
kernel would find it; the high-level API sends no ``forget``, so entries
expire, are dropped with their path, and are bounded.

What the high-level API cannot do, the mount options stand in for: there is no
cache invalidation, so the kernel keeps names ``FILE_TTL_S`` and never caches
attributes (``attr_timeout=0``).  Errors go through the same boundary as the
pyfuse3 adapter's (``boundary.errno_for``).
"""

from __future__ import annotations

import errno
import functools
import logging
import stat
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import mfusepy
import trio

from tcfs.errors import NotFound, ReadOnly, Stale
from tcfs.fs.boundary import errno_for
from tcfs.fs.context import FILE_TTL_S
from tcfs.fs.core import Attr, FsCore, Opened
from tcfs.fs.inodes import ROOT_INODE

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: paths the adapter keeps inodes for (each holds one of the core's lookups)
MAX_ENTRIES = 4096
#: an entry outlives the kernel's entry of the same answer by this much, so an
#: open the kernel sends on a name it still caches finds the inode it was given
ENTRY_GRACE_S = 1.0
#: Finder's side files: never looked up, created or sent to the bucket on macOS
APPLE_SIDE_FILES = (".DS_Store", ".Spotlight-V100", ".Trashes", ".fseventsd")
APPLE_XATTR_PREFIX = "com.apple."
ON_MACOS = sys.platform == "darwin"


def is_side_file(name: str) -> bool:
    """A name Finder writes next to what the user saves (``._x``, ``.DS_Store``)."""
    return name.startswith("._") or name in APPLE_SIDE_FILES


def stat_of(a: Attr) -> dict[str, int]:
    ns = int(a.mtime * 1e9)
    return {
        "st_ino": a.ino,
        "st_mode": a.mode,
        "st_nlink": 2 if stat.S_ISDIR(a.mode) else 1,
        "st_uid": a.uid,
        "st_gid": a.gid,
        "st_size": a.size,
        "st_blksize": 4096,
        "st_blocks": (a.size + 511) // 512,
        "st_atime": ns,
        "st_mtime": ns,
        "st_ctime": ns,
    }


def _set_file_info(fi: Any, o: Opened) -> None:
    fi.fh = o.fh
    fi.direct_io = o.direct_io
    fi.keep_cache = o.keep_cache


def _fh(fi: Any) -> int | None:
    """The handle of a ``fuse_file_info`` (None when libfuse passed none)."""
    return None if fi is None else int(fi.fh)


def _handler(
    fn: Callable[Concatenate[MfusepyOperations, int, P], Awaitable[T]],
) -> Callable[Concatenate[MfusepyOperations, P], T]:
    """Run ``fn`` on the trio loop with the caller's pid; errors become errnos."""

    @functools.wraps(fn)
    def wrapper(ops: MfusepyOperations, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if ops.stopping.is_set():  # end libfuse's loop from one of its threads
            mfusepy.fuse_exit()
            raise mfusepy.FuseOSError(errno.ENOTCONN)
        pid = int(mfusepy.fuse_get_context()[2])  # only known in libfuse's thread
        try:
            return trio.from_thread.run(
                functools.partial(fn, ops, pid, *args, **kwargs), trio_token=ops.token
            )
        except mfusepy.FuseOSError:
            raise
        except (trio.RunFinishedError, trio.Cancelled):  # the mount is stopping
            raise mfusepy.FuseOSError(errno.EINTR) from None
        except Exception as exc:
            path = args[0] if args and isinstance(args[0], str) else "?"
            raise mfusepy.FuseOSError(
                errno_for(ops.core, fn.__name__, exc, lambda: path.lstrip("/") or "/", pid)
            ) from None

    return wrapper


class Entries:
    """What the kernel's entry cache is to the pyfuse3 adapter: path to inode,
    each entry holding one of the core's lookups a little longer than the
    kernel keeps the name (the core's entry timeout), at most ``MAX_ENTRIES``
    of them (the least recently used go first)."""

    def __init__(self, core: FsCore) -> None:
        self.core = core
        self._by_path: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_path)

    def get(self, path: str) -> int | None:
        hit = self._by_path.get(path)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            self._forget(path)
            return None
        self._by_path.move_to_end(path)
        return hit[1]

    def put(self, path: str, attr: Attr) -> None:
        """Keep ``attr``'s inode for ``path``; it takes over the lookup just counted."""
        self._forget(path)
        life = attr.entry_timeout + ENTRY_GRACE_S
        self._by_path[path] = (time.monotonic() + life, attr.ino)
        while len(self._by_path) > MAX_ENTRIES:
            self._forget(next(iter(self._by_path)))

    def drop(self, path: str) -> None:
        """``path`` and all below it are gone or renamed: forget them."""
        below = path.rstrip("/") + "/"
        for known in [p for p in self._by_path if p == path or p.startswith(below)]:
            self._forget(known)

    def _forget(self, path: str) -> None:
        hit = self._by_path.pop(path, None)
        if hit is not None:
            self.core.forget([(hit[1], 1)])


class MfusepyOperations:
    """mfusepy's callbacks (``raw_fi``: they get ``fuse_file_info``); all logic
    lives in ``FsCore``.  mfusepy registers only the methods a class has."""

    use_ns = True  # times in nanoseconds
    # operations on an open file need no path: its handle says which (and an
    # open file that was unlinked has none left)
    flag_nopath = True
    flag_nullpath_ok = True

    def __init__(
        self,
        core: FsCore,
        token: trio.lowlevel.TrioToken,
        mounted: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        self.core = core
        self.token = token
        self.mounted = mounted
        #: set when the mount stops: a reader retrying after its EINTR (cat
        #: does) gets ENOTCONN, and ends the loop a lazy unmount cannot end
        #: while it keeps the connection open
        self.stopping = stopping
        self.entries = Entries(core)

    def init(self, path: str) -> None:
        self.mounted()

    # ----- paths to inodes -----

    async def _ino(self, path: str | None, pid: int) -> int:
        """The inode of ``path``: the one the kernel would know, or looked up."""
        return (await self._known(path, pid))[0]

    async def _known(self, path: str | None, pid: int) -> tuple[int, Attr | None]:
        """The inode of ``path``, with its attributes if it was just looked up."""
        if path is None:  # an unlinked file that is still open, reached by path
            raise Stale("the file was removed")
        if path in ("", "/"):
            return ROOT_INODE, None
        ino = self.entries.get(path)
        if ino is not None:
            return ino, None
        head, _, name = path.rpartition("/")
        if ON_MACOS and is_side_file(name):
            raise NotFound(f"{path}: Finder's side files are not kept")
        attr = await self.core.lookup(await self._ino(head, pid), name, pid=pid)
        self.entries.put(path, attr)
        return attr.ino, attr

    async def _attr(self, path: str, pid: int) -> Attr:
        ino, attr = await self._known(path, pid)
        if attr is not None:
            return attr
        try:
            return await self.core.getattr(ino)
        except (Stale, NotFound):  # changed since: as the kernel would, look it up again
            self.entries.drop(path)
            ino, attr = await self._known(path, pid)
            return attr or await self.core.getattr(ino)

    async def _parent(self, path: str, pid: int) -> tuple[int, str]:
        """The inode of ``path``'s directory and its last component."""
        head, _, name = path.rpartition("/")
        return await self._ino(head, pid), name

    def _refuse_side_file(self, path: str) -> None:
        if ON_MACOS and is_side_file(path.rpartition("/")[2]):
            raise ReadOnly(f"{path}: Finder's side files are not kept")

    # ----- attributes -----

    @_handler
    async def getattr(self, pid: int, path: str, fi: Any = None) -> dict[str, int]:
        fh = _fh(fi)
        if fh is not None:
            return stat_of(await self.core.getattr(self.core.handle(fh).ino))
        return stat_of(await self._attr(path, pid))

    async def _setattr(self, pid: int, path: str, fh: int | None, **change: Any) -> None:
        if fh is not None:
            await self.core.setattr(self.core.handle(fh).ino, fh=fh, **change)
            return
        await self.core.setattr(await self._ino(path, pid), fh=None, **change)

    @_handler
    async def truncate(self, pid: int, path: str, length: int, fi: Any = None) -> int:
        await self._setattr(pid, path, _fh(fi), size=length)
        return 0

    @_handler
    async def chmod(self, pid: int, path: str, mode: int) -> int:
        await self._setattr(pid, path, None, mode=mode)
        return 0

    @_handler
    async def chown(self, pid: int, path: str, uid: int, gid: int) -> int:
        # tar and rsync -a as root chown to the owner the file has: no change
        owner = uid not in (-1, self.core.uid) or gid not in (-1, self.core.gid)
        await self._setattr(pid, path, None, owner=owner)
        return 0

    @_handler
    async def utimens(self, pid: int, path: str, times: Any = None) -> int:
        await self._ino(path, pid)  # times are the bucket's: accepted, not kept
        return 0

    # ----- directories -----

    @_handler
    async def opendir(self, pid: int, path: str) -> int:
        return await self.core.opendir(await self._ino(path, pid))

    @_handler
    async def readdir_with_offset(
        self, pid: int, path: str, offset: int, fh: int
    ) -> list[tuple[str, dict[str, int], int]]:
        entries = await self.core.listdir(fh, offset)
        return [
            (st.node.name, {"st_mode": st.node.mode}, i)
            for i, st in enumerate(entries, start=offset + 1)
            if not (ON_MACOS and is_side_file(st.node.name))
        ]

    @_handler
    async def releasedir(self, pid: int, path: str, fh: int) -> int:
        await self.core.releasedir(fh)
        return 0

    @_handler
    async def mkdir(self, pid: int, path: str, mode: int) -> int:
        self._refuse_side_file(path)
        parent, name = await self._parent(path, pid)
        self.entries.put(path, await self.core.mkdir(parent, name))
        return 0

    @_handler
    async def rmdir(self, pid: int, path: str) -> int:
        parent, name = await self._parent(path, pid)
        await self.core.rmdir(parent, name)
        self.entries.drop(path)
        return 0

    @_handler
    async def unlink(self, pid: int, path: str) -> int:
        parent, name = await self._parent(path, pid)
        await self.core.unlink(parent, name)
        self.entries.drop(path)
        return 0

    @_handler
    async def rename(self, pid: int, old: str, new: str, flags: int = 0) -> int:
        self._refuse_side_file(new)
        old_parent, old_name = await self._parent(old, pid)
        new_parent, new_name = await self._parent(new, pid)
        await self.core.rename(old_parent, old_name, new_parent, new_name, flags)
        self.entries.drop(old)
        self.entries.drop(new)
        return 0

    # ----- files -----

    @_handler
    async def create(self, pid: int, path: str, mode: int, fi: Any) -> int:
        self._refuse_side_file(path)
        parent, name = await self._parent(path, pid)
        opened, attr = await self.core.create(parent, name, int(fi.flags))
        self.entries.put(path, attr)
        _set_file_info(fi, opened)
        return 0

    @_handler
    async def open(self, pid: int, path: str, fi: Any) -> int:
        opened = await self.core.open(await self._ino(path, pid), int(fi.flags), pid=pid)
        _set_file_info(fi, opened)
        return 0

    @_handler
    async def read(self, pid: int, path: str, size: int, offset: int, fi: Any) -> bytes:
        return bytes(await self.core.read(int(fi.fh), offset, size))

    @_handler
    async def write(self, pid: int, path: str, data: bytes, offset: int, fi: Any) -> int:
        return await self.core.write(int(fi.fh), offset, data)

    @_handler
    async def flush(self, pid: int, path: str, fi: Any) -> int:
        await self.core.flush(int(fi.fh))
        return 0

    @_handler
    async def fsync(self, pid: int, path: str, datasync: int, fi: Any) -> int:
        await self.core.fsync(int(fi.fh))
        return 0

    @_handler
    async def release(self, pid: int, path: str, fi: Any) -> int:
        await self.core.release(int(fi.fh))
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {
            "f_bsize": 4096,
            "f_frsize": 4096,
            "f_blocks": 1 << 30,
            "f_bfree": 1 << 30,
            "f_bavail": 1 << 30,
            "f_files": 1 << 20,
            "f_ffree": 1 << 20,
            "f_favail": 1 << 20,
            "f_namemax": 255,
        }

    # ----- what a bucket cannot do -----

    @_handler
    async def link(self, pid: int, target: str, source: str) -> int:
        raise self.core.unsupported("hard links")

    @_handler
    async def symlink(self, pid: int, target: str, source: str) -> int:
        raise self.core.unsupported("symbolic links")

    @_handler
    async def mknod(self, pid: int, path: str, mode: int, dev: int) -> int:
        raise self.core.unsupported("special files")

    @_handler
    async def setxattr(
        self, pid: int, path: str, name: str, value: bytes, options: int, position: int = 0
    ) -> int:
        if name.startswith(APPLE_XATTR_PREFIX):  # Finder's tags and quarantine: not kept
            return 0
        raise self.core.unsupported("extended attributes")

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        raise mfusepy.FuseOSError(mfusepy.ENOATTR)

    def removexattr(self, path: str, name: str) -> int:
        raise mfusepy.FuseOSError(mfusepy.ENOATTR)

    def listxattr(self, path: str) -> list[str]:
        return []


class _FUSE(mfusepy.FUSE):  # type: ignore[misc]
    """mfusepy's FUSE, passing on what mfusepy 3.1 drops: ``rename``'s flags
    (``RENAME_NOREPLACE``, ``RENAME_EXCHANGE``) and the handle ``ftruncate``
    truncates through (its file may have no path left)."""

    def _decode(self, path: bytes | None) -> str | None:
        return None if path is None else path.decode(self.encoding, self.errors)

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        return int(self.operations.rename(self._decode(old), self._decode(new), flags))

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        fi = fip.contents if fip else None
        return int(self.operations.truncate(self._decode(path), length, fi))


def options(volume: str) -> dict[str, Any]:
    """Mount options for libfuse's high-level API (``-o``)."""
    opts: dict[str, Any] = {
        "foreground": True,
        "fsname": "tcfs",
        "entry_timeout": FILE_TTL_S,
        "negative_timeout": 0,
        "attr_timeout": 0,
        # an unlinked open file is gone at once, never renamed to .fuse_hidden*
        "hard_remove": True,
    }
    if ON_MACOS:  # macFUSE: a named volume, no ._ files, no Finder metadata
        opts |= {"volname": volume, "noappledouble": True, "noapplexattr": True}
    else:
        opts["subtype"] = "tcfs"
    return opts


def serve(
    core: FsCore,
    token: trio.lowlevel.TrioToken,
    mountpoint: str,
    volume: str,
    mounted: Callable[[], None],
    stopping: threading.Event,
) -> None:
    """Mount and run libfuse's loop until unmounted or stopping (blocks: run it
    in a thread); ``mounted`` is called in libfuse's thread once the kernel is
    connected."""
    _FUSE(
        MfusepyOperations(core, token, mounted, stopping),
        mountpoint,
        raw_fi=True,
        **options(volume),
    )
    log.debug("libfuse's loop for %s ended", mountpoint)

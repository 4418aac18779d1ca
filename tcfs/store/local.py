"""The embedded default: a directory laid out like the bucket.

``<root>/<project>/<key>`` holds each object's bytes.  Conditional writes hold
across threads and processes on one machine: every mutation of a key runs under
an ``flock`` on one of a fixed set of lock files (striped by key hash, kept in
``<root>/.tcfs-locks``), checks its condition, writes a temporary file and
renames it into place, so readers never see a torn object.

An ETag names one content, whatever the filesystem's clock granularity and
inode reuse: a small object's (up to ``DIGEST_MAX``: every record a
compare-and-swap guards) is the MD5 of its bytes, like S3's, read with the
``stat`` from one open file.  A larger one's is the version of the file that
holds it (inode, mtime in nanoseconds, size), so stating an artifact reads
none of it; every write is a new file renamed into place, stamped under the
key's lock with an mtime above that of the file it replaces (a whole second
above, where the filesystem keeps whole seconds), so a key never shows one
ETag for two of its versions.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tcfs.errors import (
    AccessDenied,
    InvalidName,
    NoSpace,
    NotFound,
    PreconditionFailed,
    StoreError,
)
from tcfs.store.base import Blob, CommonPrefix, ListEntry, ObjectInfo, RetryPolicy, Store

if TYPE_CHECKING:
    from tcfs.config import Settings

LOCK_DIR = ".tcfs-locks"
TMP_PREFIX = ".tcfs-tmp-"
LOCK_STRIPES = 64
#: writes that find their directory pruned under them try again this often
DIR_RETRIES = 50


#: objects up to this size have a digest of their content as ETag
DIGEST_MAX = 256 << 10


def _etag(fd: int, st: os.stat_result, body: bytes | None = None) -> str:
    """The ETag of the version open as ``fd`` (see the module's docstring);
    ``body`` is its whole content, when read already."""
    if st.st_size > DIGEST_MAX:
        return f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
    if body is None:
        body = _read_range(fd, st, None)
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def _stat_file(path: Path) -> os.stat_result | None:
    """The stat of the object's file; None when there is none (absent or a directory)."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _version(path: Path) -> tuple[os.stat_result, str] | None:
    """The stat and ETag of the object's file, from one open file; None when
    there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        st = os.fstat(fd)
        return (st, _etag(fd, st)) if stat.S_ISREG(st.st_mode) else None
    finally:
        os.close(fd)


def _stamp_after(fd: int, current: os.stat_result | None) -> os.stat_result:
    """Stamp the new file ``fd`` with an mtime above ``current``'s (the file it
    replaces) and now; its stat.  A filesystem that keeps coarser times than
    nanoseconds truncates the stamp: then it is raised by whole seconds."""
    floor = current.st_mtime_ns if current else 0
    mtime_ns, step = max(time.time_ns(), floor + 1), 1_000_000_000
    for _ in range(3):
        os.utime(fd, ns=(mtime_ns, mtime_ns))
        st = os.fstat(fd)
        if st.st_mtime_ns > floor:
            break
        mtime_ns, step = floor + step, step * 2
    return st


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` beside a concurrent prune (``LocalStore._prune``), which
    may remove a directory just made (``ENOENT`` for its child) or just found
    (pathlib's ``exist_ok`` re-checks it after ``EEXIST``): the caller's
    retry makes them again."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileNotFoundError:
        pass
    except FileExistsError:
        if directory.exists() and not directory.is_dir():
            raise  # a file in the way


def _read_range(fd: int, st: os.stat_result, byte_range: tuple[int, int] | None) -> bytes:
    off, length = (0, st.st_size) if byte_range is None else byte_range
    length = max(0, min(length, st.st_size - off))
    body = os.pread(fd, length, off)
    if len(body) == length or not body:
        return body  # the common case: one read, no copy
    parts = [body]  # pread may return less than asked (huge reads, signals)
    got = len(body)
    while got < length and (chunk := os.pread(fd, length - got, off + got)):
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _os_error(exc: OSError, key: str) -> StoreError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
        return NotFound(f"no such key: {key}", cause=exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(f"permission denied on {key}: {exc.strerror}", cause=exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(f"cannot write {key}: {exc.strerror}", errno=exc.errno, cause=exc)
    return StoreError(f"local store failed on {key}: {exc.strerror or exc}", cause=exc)


class LocalStore(Store):
    kind = "local"
    conditional_writes = True
    round_trips = False  # a request is a few system calls: nothing to overlap
    same_machine = True

    def __init__(self, root: str | os.PathLike[str], project: str) -> None:
        super().__init__(str(root), project)
        self.root = Path(root)
        self.base = self.root / project
        try:
            self.base.mkdir(parents=True, exist_ok=True)
            (self.root / LOCK_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, project) from exc

    @classmethod
    def from_settings(cls, settings: Settings, *, retry: RetryPolicy | None = None) -> LocalStore:
        # a directory has no temporary failures to retry
        return cls(settings.bucket_path(), settings.project)

    # ----- paths and locks -----

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or parts[-1].startswith(TMP_PREFIX):
            raise InvalidName(f"invalid object key {key!r}")
        return self.base.joinpath(*parts)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        stripe = zlib.crc32(key.encode()) % LOCK_STRIPES
        fd = os.open(self.root / LOCK_DIR / f"{stripe:02d}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _write_atomic(
        self, path: Path, current: os.stat_result | None, write: Callable[[BinaryIO], object]
    ) -> str:
        """Write a new file and rename it over ``path`` (whose file is ``current``);
        its ETag.  Runs under the key's lock."""
        for _ in range(DIR_RETRIES):
            _make_dirs(path.parent)
            tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
            try:
                with open(tmp, "w+b") as f:
                    write(f)
                    f.flush()
                    etag = _etag(f.fileno(), _stamp_after(f.fileno(), current))
            except FileNotFoundError:
                # a concurrent delete pruned the directory; make it again
                continue
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            os.replace(tmp, path)  # keeps the inode, mtime and size: the ETag holds
            return etag
        raise StoreError(f"could not write {path.name}: its directory keeps vanishing")

    def _check(
        self,
        key: str,
        current: tuple[os.stat_result, str] | None,
        if_none_match: bool,
        if_match: str | None,
    ) -> None:
        if if_none_match and current is not None:
            raise PreconditionFailed(f"{key} already exists")
        if if_match is not None:
            if current is None:
                raise NotFound(f"no such key: {key}")
            if current[1] != if_match:
                raise PreconditionFailed(f"{key} changed (ETag {current[1]} != {if_match})")

    # ----- the interface -----

    def get(self, key: str, *, byte_range: tuple[int, int] | None = None) -> Blob:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # the ETag and the bytes come from one open file: one version
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise NotFound(f"no such key: {key}")
                body = _read_range(fd, st, byte_range)
                etag = _etag(fd, st, body if byte_range is None else None)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _os_error(exc, key) from exc
        return Blob(body=body, etag=etag, size=st.st_size, mtime=st.st_mtime)

    def head(self, key: str) -> ObjectInfo:
        try:
            version = _version(self._path(key))
        except OSError as exc:
            raise _os_error(exc, key) from exc
        if version is None:
            raise NotFound(f"no such key: {key}")
        st, etag = version
        return ObjectInfo(key=key, size=st.st_size, etag=etag, mtime=st.st_mtime)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        path = self._path(key)
        try:
            with self._locked(key):
                current = _version(path)
                self._check(key, current, if_none_match, if_match)
                return self._write_atomic(
                    path, current[0] if current else None, lambda f: f.write(body)
                )
        except OSError as exc:
            raise _os_error(exc, key) from exc

    def put_file(
        self, key: str, fileobj: BinaryIO, size: int, *, journal: str | None = None
    ) -> str:
        path = self._path(key)

        def copy(f: BinaryIO) -> None:
            left = size
            while left > 0:
                chunk = fileobj.read(min(left, 1 << 20))
                if not chunk:
                    break
                f.write(chunk)
                left -= len(chunk)

        try:
            with self._locked(key):
                return self._write_atomic(path, _stat_file(path), copy)
        except OSError as exc:
            raise _os_error(exc, key) from exc

    def get_file(self, key: str, fileobj: BinaryIO, *, chunk: int = 8 << 20) -> int:
        try:
            with open(self._path(key), "rb") as f:
                shutil.copyfileobj(f, fileobj, chunk)
                return f.tell()
        except OSError as exc:
            raise _os_error(exc, key) from exc

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        path = self._path(key)
        try:
            with self._locked(key):
                if if_match is not None:
                    self._check(key, _version(path), False, if_match)
                try:
                    path.unlink()
                except (FileNotFoundError, IsADirectoryError):
                    return
        except OSError as exc:
            raise _os_error(exc, key) from exc
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        """Remove directories a delete left empty, so listings stay clean."""
        while directory != self.base and self.base in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def list(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        delimiter: str | None = None,
    ) -> Iterator[ListEntry]:
        if delimiter not in (None, "/"):
            raise InvalidName("the local store only supports '/' as a delimiter")
        # Walk from the deepest directory the prefix names fully.
        head, _, _ = prefix.rpartition("/")
        start_dir = self.base.joinpath(*head.split("/")) if head else self.base
        rel = head + "/" if head else ""
        yield from self._walk(start_dir, rel, prefix, start_after, delimiter)

    def _walk(
        self,
        directory: Path,
        rel: str,
        prefix: str,
        start_after: str | None,
        delimiter: str | None,
    ) -> Iterator[ListEntry]:
        try:
            with os.scandir(directory) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise _os_error(exc, rel or "/") from exc
        # Key order: a directory "a" sorts as "a/", so "a-b" < "a/..." < "a0".
        entries.sort(key=lambda e: e[0] + "/" if e[1] else e[0])
        for name, is_dir in entries:
            if name.startswith(TMP_PREFIX) or (not rel and name == LOCK_DIR):
                continue
            key = rel + name
            if is_dir:
                sub = key + "/"
                if not (sub.startswith(prefix) or prefix.startswith(sub)):
                    continue
                if start_after is not None and not (
                    sub > start_after or start_after.startswith(sub)
                ):
                    continue
                if delimiter and sub.startswith(prefix):
                    fresh = start_after is None or sub > start_after
                    if fresh and self._has_files(directory / name):
                        yield CommonPrefix(sub)
                    continue
                yield from self._walk(directory / name, sub, prefix, start_after, delimiter)
            else:
                if not key.startswith(prefix):
                    continue
                if start_after is not None and key <= start_after:
                    continue
                version = _version(directory / name)
                if version is None:
                    continue
                st, etag = version
                yield ObjectInfo(key=key, size=st.st_size, etag=etag, mtime=st.st_mtime)

    def _has_files(self, directory: Path) -> bool:
        for _root, _dirs, files in os.walk(directory):
            if any(not f.startswith(TMP_PREFIX) for f in files):
                return True
        return False

    def describe(self) -> str:
        return f"local:{self.root}/{self.project}"

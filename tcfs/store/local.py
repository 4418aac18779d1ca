"""The embedded default: a directory laid out like the bucket.

``<root>/<project>/<key>`` holds each object's bytes.  Conditional writes hold
across threads and processes on one machine: every mutation of a key runs under
an ``flock`` on one of a fixed set of lock files (striped by key hash, kept in
``<root>/.tcfs-locks``), checks its condition, writes a temporary file and
renames it into place, so readers never see a torn object.  ETags are the MD5 of
the content, as S3 gives for single-part objects.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tcfs.errors import (
    AccessDenied,
    InvalidName,
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


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


def _file_etag(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return '"' + h.hexdigest() + '"'


def _os_error(exc: OSError, key: str) -> StoreError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
        return NotFound(f"no such key: {key}", cause=exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(f"permission denied on {key}: {exc.strerror}", cause=exc)
    return StoreError(f"local store failed on {key}: {exc.strerror or exc}", cause=exc)


class LocalStore(Store):
    kind = "local"
    conditional_writes = True

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

    def _current_etag(self, path: Path) -> str | None:
        try:
            return _file_etag(path)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None

    def _write_atomic(self, path: Path, write: Callable[[BinaryIO], object]) -> None:
        for _ in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
            try:
                with open(tmp, "wb") as f:
                    write(f)
            except FileNotFoundError:
                # a concurrent delete pruned the directory; make it again
                continue
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            os.replace(tmp, path)
            return
        raise StoreError(f"could not write {path.name}: its directory keeps vanishing")

    def _check(
        self, key: str, current: str | None, if_none_match: bool, if_match: str | None
    ) -> None:
        if if_none_match and current is not None:
            raise PreconditionFailed(f"{key} already exists")
        if if_match is not None:
            if current is None:
                raise NotFound(f"no such key: {key}")
            if current != if_match:
                raise PreconditionFailed(f"{key} changed (ETag {current} != {if_match})")

    # ----- the interface -----

    def get(self, key: str, *, byte_range: tuple[int, int] | None = None) -> Blob:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except OSError as exc:
            raise _os_error(exc, key) from exc
        body = data
        if byte_range is not None:
            off, length = byte_range
            body = data[off : off + length]
        return Blob(body=body, etag=_etag(data), size=len(data), mtime=st.st_mtime)

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
            if not path.is_file():
                raise NotFound(f"no such key: {key}")
            etag = _file_etag(path)
        except OSError as exc:
            raise _os_error(exc, key) from exc
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
                if if_none_match or if_match is not None:
                    self._check(key, self._current_etag(path), if_none_match, if_match)
                self._write_atomic(path, lambda f: f.write(body))
        except OSError as exc:
            raise _os_error(exc, key) from exc
        return _etag(body)

    def put_file(self, key: str, fileobj: BinaryIO, size: int) -> str:
        path = self._path(key)
        h = hashlib.md5(usedforsecurity=False)

        def copy(f: BinaryIO) -> None:
            left = size
            while left > 0:
                chunk = fileobj.read(min(left, 1 << 20))
                if not chunk:
                    break
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)

        try:
            with self._locked(key):
                self._write_atomic(path, copy)
        except OSError as exc:
            raise _os_error(exc, key) from exc
        return '"' + h.hexdigest() + '"'

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
                    self._check(key, self._current_etag(path), False, if_match)
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
                try:
                    st = (directory / name).stat()
                except FileNotFoundError:
                    continue
                yield ObjectInfo(key=key, size=st.st_size, etag=None, mtime=st.st_mtime)

    def _has_files(self, directory: Path) -> bool:
        for _root, _dirs, files in os.walk(directory):
            if any(not f.startswith(TMP_PREFIX) for f in files):
                return True
        return False

    def describe(self) -> str:
        return f"local:{self.root}/{self.project}"

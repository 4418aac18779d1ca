"""The Hugging Face backend: a bucket on the Hub, through ``huggingface_hub``.

Objects are bucket files at ``<project>/<key>``: written with
``batch_bucket_files`` (Xet upload plus one batch call), read with ranged GETs
of the file's ``resolve`` URL (``HfFileSystem``), described by
``get_bucket_paths_info`` and listed with ``list_bucket_tree``.  The ETag is
the file's Xet hash (content-addressed).

The bucket API has no conditional write, so ``if_none_match`` / ``if_match``
are best effort: check, then write.  Two agents can both win a claim in the gap
between the two; the store says so once, loudly, and ``tcfs doctor`` reports
the backend as not safe for claims.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from tcfs.errors import (
    AccessDenied,
    BackendUnavailable,
    NotFound,
    PreconditionFailed,
    StoreError,
    StoreTimeout,
    TcfsError,
    TemporaryFailure,
)
from tcfs.store.base import (
    DEFAULT_RETRY,
    Blob,
    CommonPrefix,
    ListEntry,
    ObjectInfo,
    RetryPolicy,
    Store,
    best_effort_warning,
    call_with_retry,
    public_endpoint,
)
from tcfs.store.http_status import error_for_status
from tcfs.store.validate import check_key, check_prefix

if TYPE_CHECKING:
    from tcfs.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


def _mtime(info: Any) -> float:
    for attr in ("mtime", "uploaded_at"):
        value = getattr(info, attr, None)
        if value is not None:
            return float(value.timestamp())
    return 0.0


class HfStore(Store):
    kind = "hf"
    conditional_writes = False
    #: huggingface_hub's request timeout (constants.DEFAULT_REQUEST_TIMEOUT), twice:
    #: a connection and a read
    attempt_timeout_s = 20.0

    def __init__(
        self,
        bucket: str,
        project: str,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        super().__init__(bucket, project, retry=retry)
        try:
            from huggingface_hub import HfApi, HfFileSystem
            from huggingface_hub.utils import (  # type: ignore[attr-defined]
                disable_progress_bars,
            )
        except ImportError as exc:  # the optional "hf" extra
            from tcfs.errors import ConfigError

            raise ConfigError(
                "the hf backend needs huggingface_hub: pip install 'tcfs[hf]'"
            ) from exc
        if bucket.count("/") != 1 or bucket.startswith("/") or bucket.endswith("/"):
            from tcfs.errors import ConfigError

            raise ConfigError(f"an hf bucket is 'namespace/name', not {bucket!r}")
        disable_progress_bars()  # a daemon has no terminal to draw on
        self.endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
        self._api = HfApi(endpoint=self.endpoint, token=token)
        self._fs = HfFileSystem(endpoint=self.endpoint, token=token, skip_instance_cache=True)
        self._warned = False

    @classmethod
    def from_settings(cls, settings: Settings, *, retry: RetryPolicy = DEFAULT_RETRY) -> HfStore:
        return cls(
            settings.bucket,
            settings.project,
            endpoint=settings.get("endpoint") or os.environ.get("HF_ENDPOINT") or None,
            token=settings.get("hf_token"),
            retry=retry,
        )

    # ----- the choke point -----

    def _translate(self, exc: BaseException, op: str, key: str) -> TcfsError:
        import httpx2
        from huggingface_hub.errors import (
            BucketBatchError,
            BucketNotFoundError,
            EntryNotFoundError,
            HfHubHTTPError,
        )

        target = f"hf://buckets/{self.bucket}/{self.project}/{key}"
        if isinstance(exc, TcfsError):
            return exc
        try:
            from hf_xet import XetAuthenticationError, XetObjectNotFoundError
        except ImportError:  # pragma: no cover - hf_xet ships with huggingface_hub
            XetAuthenticationError = XetObjectNotFoundError = ()
        if isinstance(exc, XetAuthenticationError):
            return AccessDenied(f"access denied to {target}: check the token (HF_TOKEN)")
        if isinstance(exc, XetObjectNotFoundError):
            return NotFound(f"no such key: {target}")
        if isinstance(exc, BucketNotFoundError):
            return NotFound(f"bucket {self.bucket} does not exist (or the token cannot see it)")
        if isinstance(exc, BucketBatchError):
            return StoreError(f"hf {op} on {target} failed: {exc}")
        if isinstance(exc, HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else 0
            cls = error_for_status(status)
            if cls is NotFound:
                return NotFound(f"no such key: {target}")
            if cls is AccessDenied:
                return AccessDenied(
                    f"access denied to {target} (HTTP {status}): check the token (HF_TOKEN)"
                )
            return cls(f"hf {op} on {target}: HTTP {status}")
        if isinstance(exc, (EntryNotFoundError, FileNotFoundError)):
            return NotFound(f"no such key: {target}")
        if isinstance(exc, httpx2.TimeoutException):
            return StoreTimeout(f"hf {op} timed out: {exc}")
        if isinstance(exc, (httpx2.TransportError, ConnectionError)):
            return BackendUnavailable(f"hf {op} cannot reach the endpoint: {exc}")
        return StoreError(f"hf {op} on {target} failed: {type(exc).__name__}: {exc}")

    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        def once(attempt: int) -> T:
            log.debug("hf %s %s/%s (attempt %d)", op, self.bucket, key, attempt)
            try:
                return fn()
            except TcfsError:
                raise
            except Exception as exc:
                err = self._translate(exc, op, key)
                if isinstance(err, BackendUnavailable):
                    # The Xet uploader reports a refused token as a plain
                    # ConnectionError; ask the Hub API, whose status says which.
                    err = self._diagnose() or err
                raise err from exc

        return call_with_retry(once, self.retry, what=f"hf {op} {key}")

    def _diagnose(self) -> TcfsError | None:
        """A permanent error (bad token, missing bucket) behind a connection failure."""
        try:
            self._api.bucket_info(self.bucket)
        except Exception as exc:
            err = self._translate(exc, "bucket_info", "")
            return None if isinstance(err, TemporaryFailure) else err
        return None

    def _warn_best_effort(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s", best_effort_warning(type(self)))

    # ----- reads -----

    def _info(self, key: str) -> ObjectInfo | None:
        path = check_key(key, self.project)
        infos = self._call(
            "head", key, lambda: list(self._api.get_bucket_paths_info(self.bucket, [path]))
        )
        for info in infos:
            if info.path == path:
                return ObjectInfo(
                    key=key, size=int(info.size), etag=info.xet_hash, mtime=_mtime(info)
                )
        return None

    def head(self, key: str) -> ObjectInfo:
        info = self._info(key)
        if info is None:
            raise NotFound(f"no such key: hf://buckets/{self.bucket}/{self.project}/{key}")
        return info

    def _read(self, key: str, offset: int, length: int, size: int) -> bytes:
        url = f"hf://buckets/{self.bucket}/{check_key(key, self.project)}"

        def fetch() -> bytes:
            with self._fs.open(
                url, "rb", block_size=max(length, 1), cache_type="none", size=size
            ) as f:
                f.seek(offset)
                data: bytes = f.read(length)
                return data

        return self._call("get", key, fetch)

    def get(self, key: str, *, byte_range: tuple[int, int] | None = None) -> Blob:
        info = self.head(key)
        offset, length = byte_range if byte_range is not None else (0, info.size)
        if offset < 0 or length < 0:
            raise ValueError(f"invalid byte range {byte_range}")
        length = max(0, min(length, info.size - offset))
        body = self._read(key, offset, length, info.size) if length else b""
        return Blob(body=body, etag=info.etag or "", size=info.size, mtime=info.mtime)

    def get_if_changed(self, key: str, etag: str | None) -> Blob | None:
        """No conditional GET here: a metadata look, and the body only if it changed."""
        if etag is not None and self.head(key).etag == etag:
            return None
        return self.get(key)

    def list(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        delimiter: str | None = None,
    ) -> Iterator[ListEntry]:
        full = check_prefix(prefix, self.project)
        return self._list(full, prefix, start_after, delimiter)

    def _list(
        self, full: str, prefix: str, start_after: str | None, delimiter: str | None
    ) -> Iterator[ListEntry]:
        # The tree API lists a folder; list the prefix's folder and filter here.
        folder = full.rsplit("/", 1)[0]

        def fetch() -> list[Any]:
            from huggingface_hub.errors import HfHubHTTPError

            try:
                return list(self._api.list_bucket_tree(self.bucket, folder, recursive=True))
            except HfHubHTTPError as exc:
                if exc.response is not None and exc.response.status_code == 404:
                    return []  # an empty folder does not exist
                raise

        items = self._call("list", prefix, fetch)
        strip = len(self.project) + 1
        files = sorted(
            (
                (item.path[strip:], item)
                for item in items
                if getattr(item, "type", "") == "file" and item.path.startswith(full)
            ),
            key=lambda e: e[0].encode("utf-8"),
        )
        last_prefix: str | None = None
        for key, item in files:
            if start_after is not None and key <= start_after:
                continue
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    sub = key[: cut + len(delimiter)]
                    if sub != last_prefix and (start_after is None or sub > start_after):
                        last_prefix = sub
                        yield CommonPrefix(sub)
                    continue
            yield ObjectInfo(key=key, size=int(item.size), etag=item.xet_hash, mtime=_mtime(item))

    # ----- writes -----

    def _check(self, key: str, if_none_match: bool, if_match: str | None) -> None:
        """The best-effort half of a conditional write: look before writing."""
        self._warn_best_effort()
        current = self._info(key)
        if if_none_match and current is not None:
            raise PreconditionFailed(f"{key} already exists")
        if if_match is not None:
            if current is None:
                raise NotFound(f"no such key: {key}")
            if current.etag != if_match:
                raise PreconditionFailed(f"{key} changed (ETag {current.etag} != {if_match})")

    def _etag_after_write(self, key: str) -> str:
        info = self._info(key)
        return info.etag or "" if info is not None else ""

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        path = check_key(key, self.project)
        if if_none_match and if_match is not None:
            raise ValueError("if_none_match and if_match are exclusive")
        if if_none_match or if_match is not None:
            self._check(key, if_none_match, if_match)
        data = bytes(body)
        self._call(
            "put", key, lambda: self._api.batch_bucket_files(self.bucket, add=[(data, path)])
        )
        return self._etag_after_write(key)

    def put_file(
        self, key: str, fileobj: BinaryIO, size: int, *, journal: str | None = None
    ) -> str:
        path = check_key(key, self.project)
        # The uploader takes a path; stage the bytes in a private temporary file.
        fd, tmp = tempfile.mkstemp(prefix="tcfs-hf-")
        try:
            with os.fdopen(fd, "wb") as out:
                left = size
                while left > 0:
                    chunk = fileobj.read(min(left, 8 << 20))
                    if not chunk:
                        raise TcfsError(f"{key}: the source ended {left} bytes early")
                    out.write(chunk)
                    left -= len(chunk)
            self._call(
                "put_file",
                key,
                lambda: self._api.batch_bucket_files(self.bucket, add=[(tmp, path)]),
            )
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return self._etag_after_write(key)

    def get_file(self, key: str, fileobj: BinaryIO, *, chunk: int = 8 << 20) -> int:
        info = self.head(key)
        done = 0
        while done < info.size:
            body = self._read(key, done, min(chunk, info.size - done), info.size)
            if not body:
                break
            fileobj.write(body)
            done += len(body)
        return done

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        path = check_key(key, self.project)
        if if_match is not None:
            self._check(key, False, if_match)
        try:
            self._call(
                "delete", key, lambda: self._api.batch_bucket_files(self.bucket, delete=[path])
            )
        except StoreError:
            if if_match is None and self._info(key) is None:
                return  # deleting an absent key is not an error
            raise

    def describe(self) -> str:
        where = f" at {public_endpoint(self.endpoint)}" if self.endpoint else ""
        return f"hf:{self.bucket}/{self.project}{where}"

    def close(self) -> None:
        pass

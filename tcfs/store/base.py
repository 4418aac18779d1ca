"""The object-store interface every backend implements.

Keys are project-relative (``steps/s1/claim.json``); a store instance is bound
to one bucket and one project and maps keys onto ``<project>/<key>``.  The
interface is deliberately small (s3ql's lesson): get / head / put with
``if_none_match`` or ``if_match`` / delete with ``if_match`` / a lazily
paginated list with ``start_after`` and an optional delimiter.  Everything the
protocol needs is built from these.

All methods are blocking; the filesystem calls them from worker threads.
Errors are ``tcfs.errors`` store errors; ``is_temp_failure`` plus
``call_with_retry`` is the one retry policy.
"""

from __future__ import annotations

import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

from tcfs.errors import TemporaryFailure
from tcfs.store.clock import StoreClock

if TYPE_CHECKING:
    from tcfs.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


def best_effort_warning(store: type[Store]) -> str | None:
    """What to tell users of a backend without conditional writes (else None)."""
    if store.conditional_writes:
        return None
    return (
        f"the {store.kind} backend has no conditional writes: claims are best effort "
        "(check, then write), so two agents can both win a claim"
    )


def public_endpoint(endpoint: str | None) -> str | None:
    """An endpoint URL without any user:password part, for logs, messages and records."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# ---------- the one retry policy ----------


def is_temp_failure(exc: BaseException) -> bool:
    """True for errors worth retrying: throttling, 5xx, 409, timeouts, resets."""
    return isinstance(exc, TemporaryFailure)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and wall time."""

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0
    deadline: float = 20.0

    def delays(self) -> Iterator[float]:
        for i in range(self.attempts - 1):
            yield random.uniform(0, min(self.max_delay, self.base_delay * (2**i)))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class ObjectInfo:
    """One object in a listing or a HEAD answer."""

    key: str
    size: int
    etag: str | None
    mtime: float  # seconds since the epoch


@dataclass(frozen=True)
class CommonPrefix:
    """A "directory" in a delimited listing; ``prefix`` ends with the delimiter."""

    prefix: str


@dataclass(frozen=True)
class Blob:
    """A GET answer: the bytes and the ETag they were read at."""

    body: bytes
    etag: str
    size: int  # the whole object's size (differs from len(body) for ranged reads)
    mtime: float


ListEntry = ObjectInfo | CommonPrefix


class Store(ABC):
    """One bucket, one project, project-relative keys."""

    #: backend name: "local", "s3", "hf"
    kind: ClassVar[str] = ""
    #: True when If-None-Match / If-Match are enforced by the backend.  A store
    #: that says False gives best-effort claims, and says so loudly.
    conditional_writes: ClassVar[bool] = True
    #: the longest one attempt of a request can take (its connect and read
    #: timeouts); with ``retry`` this bounds every call the store makes
    attempt_timeout_s: ClassVar[float] = 10.0
    #: a request is a network round trip, so independent ones are worth sending
    #: together; False where one costs less than handing it to another thread
    round_trips: ClassVar[bool] = True
    #: the store keeps its objects on this machine (its clock is this machine's)
    same_machine: ClassVar[bool] = False
    #: how temporary failures are retried, inside the store and nowhere else
    retry: RetryPolicy

    def __init__(self, bucket: str, project: str, *, retry: RetryPolicy | None = None) -> None:
        self.bucket = bucket
        self.project = project
        self.retry = retry or DEFAULT_RETRY
        #: the store's clock as its answers show it, and this machine's skew from it
        self.clock = StoreClock(same_machine=self.same_machine)

    def request_budget_s(self) -> float:
        """The longest one request can take, its retries included: the retry
        loop starts no attempt after ``retry.deadline``, and an attempt ends
        within ``attempt_timeout_s``."""
        return self.retry.deadline + self.attempt_timeout_s

    # ----- the abstract core -----

    @abstractmethod
    def get(self, key: str, *, byte_range: tuple[int, int] | None = None) -> Blob:
        """Read an object; ``byte_range`` is ``(offset, length)``.  ``NotFound``."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """Size, ETag and mtime of an object.  ``NotFound``."""

    @abstractmethod
    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        """Write an object, return its new ETag.

        ``if_none_match=True`` creates only (``PreconditionFailed`` if the key
        exists); ``if_match=etag`` replaces only that version
        (``PreconditionFailed`` on another ETag, ``NotFound`` if absent).
        """

    @abstractmethod
    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete an object.  With ``if_match``: ``PreconditionFailed`` when the
        ETag differs and ``NotFound`` when absent; without it, deleting an absent
        key is not an error."""

    @abstractmethod
    def list(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        delimiter: str | None = None,
    ) -> Iterator[ListEntry]:
        """Objects under ``prefix`` in key order, fetched page by page as the
        caller iterates (never more than it needs).  With ``delimiter="/"``,
        deeper keys are folded into ``CommonPrefix`` entries."""

    # ----- helpers built on the core; backends may override for efficiency -----

    def put_file(
        self, key: str, fileobj: BinaryIO, size: int, *, journal: str | None = None
    ) -> str:
        """Upload ``size`` bytes from a binary file object (any size).

        Backends override this to stream or use multipart uploads; the default
        reads the whole file, which is fine for small objects only.  A backend
        whose upload can outlive a killed process (S3's multipart upload) records
        it under the prefix ``journal`` while it runs, for ``abort_uploads``.
        """
        return self.put(key, fileobj.read(size))

    def abort_uploads(self, journal: str) -> int:
        """Abort the uploads recorded under ``journal`` by a process that died
        mid-upload (see ``put_file``); how many.  Only the recording process's
        successor may call it: an upload still under way would be aborted."""
        return 0

    def abort_stale_uploads(self, older_than_s: float) -> tuple[str, ...]:
        """Abort every incomplete upload of the project begun more than
        ``older_than_s`` ago, whoever began it; the keys they were for."""
        return ()

    def get_file(self, key: str, fileobj: BinaryIO, *, chunk: int = 8 << 20) -> int:
        """Download an object into a binary file object; returns bytes written."""
        info = self.head(key)
        done = 0
        while done < info.size:
            blob = self.get(key, byte_range=(done, min(chunk, info.size - done)))
            fileobj.write(blob.body)
            done += len(blob.body)
            if not blob.body:
                break
        return done

    def get_if_changed(self, key: str, etag: str | None) -> Blob | None:
        """The object, or None while its ETag is still ``etag`` (not modified).

        ``NotFound`` if absent.  Backends with conditional reads override this
        so that an unchanged object costs one small request and no body (S3:
        ``If-None-Match`` → 304); the default reads and compares.
        """
        blob = self.get(key)
        return None if etag is not None and blob.etag == etag else blob

    def exists(self, key: str) -> bool:
        from tcfs.errors import NotFound

        try:
            self.head(key)
        except NotFound:
            return False
        return True

    def keys(self, prefix: str, *, start_after: str | None = None) -> Iterator[str]:
        for entry in self.list(prefix, start_after=start_after):
            if isinstance(entry, ObjectInfo):
                yield entry.key

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings, *, retry: RetryPolicy) -> Store:
        """The store the settings describe (``--bucket``, ``--endpoint``, ...)."""

    def describe(self) -> str:
        """A one-line, secret-free description for logs and ``tcfs status``."""
        return f"{self.kind}:{self.bucket}/{self.project}"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; optional."""


def call_with_retry(
    fn: Callable[[int], T],
    policy: RetryPolicy = DEFAULT_RETRY,
    *,
    what: str = "store call",
) -> T:
    """Run ``fn(attempt)`` until it succeeds, a permanent error, or the budget ends.

    ``fn`` receives the attempt number (0 first), so a caller can tell a first
    try from a retry: a conditional PUT that answers 412 on a retry may have
    won on the attempt whose answer was lost.
    """
    start = time.monotonic()
    delays = policy.delays()
    attempt = 0
    while True:
        try:
            return fn(attempt)
        except Exception as exc:
            if not is_temp_failure(exc):
                raise
            delay = next(delays, None)
            if delay is None or time.monotonic() - start + delay > policy.deadline:
                raise
            log.info("%s: retry %d after %s: %s", what, attempt + 1, type(exc).__name__, exc)
            time.sleep(delay)
            attempt += 1

"""One error type for every layer, and the one table from cause to errno.

A ``TcfsError`` carries the errno the filesystem answers with, the cause, and
the level it is logged at, so the FUSE adapter translates errors in exactly one
place and the CLI prints one clear line.  Each class below is one cause and
its errno is decided here, never in a handler: a stale read is ``ESTALE``,
contention that outlasted the retries is ``EAGAIN``, a bad argument is
``EINVAL``.  Store errors also inherit the generic ones (``NotFound`` is a
``LookupError``, ``InvalidArgument`` a ``ValueError``) so callers that know
nothing of tcfs can still catch them.
"""

from __future__ import annotations

import errno as _errno
import logging


class TcfsError(Exception):
    """Base error: ``errno`` for the filesystem, ``level`` for the log."""

    errno: int = _errno.EIO
    level: int = logging.WARNING

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        cause: BaseException | None = None,
        level: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if errno is not None:
            self.errno = errno
        if level is not None:
            self.level = level
        if cause is not None:
            self.__cause__ = cause

    def __str__(self) -> str:
        return self.message


# ---------- store errors ----------


class StoreError(TcfsError):
    """A backend call failed (permanent unless a subclass says otherwise)."""


class NotFound(StoreError, LookupError):
    errno = _errno.ENOENT
    level = logging.DEBUG


class PreconditionFailed(StoreError):
    """A conditional write or delete lost (HTTP 412): someone else wrote first.
    Callers that decide a race catch it; one that escapes is contention."""

    errno = _errno.EAGAIN
    level = logging.INFO


class NoSpace(StoreError):
    """The disk under a ``local`` bucket is full, or the quota is used up:
    ``ENOSPC`` or ``EDQUOT`` as the disk said, never a vague ``EIO``."""

    errno = _errno.ENOSPC
    level = logging.ERROR


class StaleRead(StoreError):
    """The object changed while it was being read (a multi-request download)."""

    errno = _errno.ESTALE
    level = logging.INFO


class AccessDenied(StoreError, PermissionError):
    errno = _errno.EACCES
    level = logging.ERROR


class NoCredentials(AccessDenied):
    """No credentials were found at all (``tcfs doctor`` says where to put them)."""


class TemporaryFailure(StoreError):
    """Throttling, 5xx, 409 conflicts, dropped connections: worth retrying."""

    errno = _errno.EAGAIN


class BackendUnavailable(TemporaryFailure):
    """The endpoint cannot be reached at all."""

    errno = _errno.EIO
    level = logging.ERROR


class StoreTimeout(TemporaryFailure, TimeoutError):
    errno = _errno.ETIMEDOUT


class Unsupported(StoreError):
    """The backend cannot do what was asked (e.g. conditional writes on hf)."""

    errno = _errno.ENOTSUP


# ---------- protocol errors ----------


class InvalidArgument(TcfsError, ValueError):
    """A value breaks a rule: a status word, text that is not UTF-8, an
    unknown handoff field, a sequence number out of range."""

    errno = _errno.EINVAL
    level = logging.INFO


class InvalidName(InvalidArgument):
    """A step id, agent id, memory key or artifact name breaks a naming rule."""


class CorruptObject(TcfsError, ValueError):
    """An object in the bucket is not what the layout says (untrusted input)."""

    errno = _errno.EIO


class ClaimTaken(TcfsError):
    """Another agent holds the step."""

    errno = _errno.EEXIST
    level = logging.INFO

    def __init__(self, message: str, *, holder: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.holder = holder


class NotHolder(TcfsError):
    """Only the holder of a step's lease may do this."""

    errno = _errno.EPERM
    level = logging.INFO


class Contention(TcfsError):
    """A compare-and-swap kept losing to other writers for all its attempts."""

    errno = _errno.EAGAIN
    level = logging.INFO


class TooLarge(TcfsError):
    errno = _errno.EFBIG
    level = logging.INFO


class WaitTimeout(TcfsError, TimeoutError):
    errno = _errno.ETIMEDOUT
    level = logging.INFO


class StepBlocked(TcfsError):
    """A waited-for step was marked blocked: it will not complete by itself."""

    errno = _errno.ECANCELED
    level = logging.INFO


class AgentMounted(TcfsError):
    """The agent id is mounted already (here or on another machine): a second
    mount would fork the agent's event log.  The message names the other."""

    errno = _errno.EBUSY
    level = logging.INFO


class IdentityLost(TcfsError):
    """Another mount took this mount's agent id over: this one stops writing."""

    errno = _errno.EBUSY
    level = logging.ERROR


class ConfigError(TcfsError):
    """Bad options or configuration: reported by the CLI, never a traceback."""

    errno = _errno.EINVAL
    level = logging.ERROR


# ---------- filesystem errors: what a path or a handle is not ----------


class FsError(TcfsError):
    """A filesystem-level refusal; logged quietly, the caller sees the errno."""

    level = logging.INFO


class ReadOnly(FsError, PermissionError):
    """A path's kind does not allow this (writing ``README``, removing a step
    directory): the caller's mistake, unlike the store's ``AccessDenied``."""

    errno = _errno.EACCES


class NotOnAMount(FsError):
    """What a bucket cannot be asked through the mount: rename, links, chmod."""

    errno = _errno.ENOTSUP


class Exists(FsError):
    """``mkdir`` of a directory that exists."""

    errno = _errno.EEXIST


class IsADirectory(FsError):
    errno = _errno.EISDIR


class NotADirectory(FsError):
    errno = _errno.ENOTDIR


class NotEmpty(FsError):
    errno = _errno.ENOTEMPTY


class Stale(FsError):
    """What an inode or an open file refers to changed kind, or is gone."""

    errno = _errno.ESTALE


class BadHandle(FsError):
    errno = _errno.EBADF


class NameTooLong(FsError):
    errno = _errno.ENAMETOOLONG


class Busy(FsError):
    """A file is in the middle of a rename that commits it."""

    errno = _errno.EBUSY


class CrossDevice(FsError):
    """A rename the mount cannot do as one step (a directory, or from one kind
    of path to another): ``mv`` then copies and removes."""

    errno = _errno.EXDEV


class Interrupted(FsError):
    """A blocked read ends now: its caller was killed or interrupted, or the
    mount is shutting down."""

    errno = _errno.EINTR

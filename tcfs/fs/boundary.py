"""The one boundary between the core's errors and a FUSE binding's errno.

Each binding's adapter catches what a handler raised and asks ``errno_for``
what the caller gets: a ``TcfsError`` is logged at its level (a refused input
at INFO, a failing store at WARNING or ERROR) with the path it was about, and
kept with its reason for the mount's ``why`` file, since the shell shows the
errno's one word only.  Any other exception is a bug or bad data we did not
foresee: it is logged with its traceback and answered with ``EIO``, and the
mount stays up.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

from tcfs.errors import TcfsError
from tcfs.fs.core import FsCore

log = logging.getLogger(__name__)


def errno_for(
    core: FsCore, op: str, exc: Exception, path: Callable[[], str], pid: int | None
) -> int:
    """The errno for ``exc`` raised by handler ``op``; refusals are recorded."""
    if not isinstance(exc, TcfsError):
        log.error("%s failed unexpectedly", op, exc_info=exc)
        return errno.EIO
    try:
        where = path()
        log.log(
            exc.level, "%s %s: %s (%s)", op, where, exc, errno.errorcode.get(exc.errno, exc.errno)
        )
        core.ctx.refusals.add(op, where, exc, pid)
    except Exception:  # the caller gets its errno whatever happens here
        log.exception("%s: could not record the refusal %r", op, exc)
    return exc.errno

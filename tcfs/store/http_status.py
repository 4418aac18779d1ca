"""HTTP status → tcfs store error: the one table every HTTP backend uses when
the backend's own error code says nothing more specific."""

from __future__ import annotations

from tcfs.errors import (
    AccessDenied,
    NotFound,
    PreconditionFailed,
    StoreError,
    TemporaryFailure,
    Unsupported,
)


class RangeNotSatisfiable(StoreError):
    """A ranged GET starting at or past the end of the object (HTTP 416)."""


HTTP_STATUS: dict[int, type[StoreError]] = {
    401: AccessDenied,
    403: AccessDenied,
    404: NotFound,
    409: TemporaryFailure,  # a conflicting concurrent request: worth retrying
    412: PreconditionFailed,
    416: RangeNotSatisfiable,
    429: TemporaryFailure,
    500: TemporaryFailure,
    501: Unsupported,
    502: TemporaryFailure,
    503: TemporaryFailure,
    504: TemporaryFailure,
}


def error_for_status(status: int | None) -> type[StoreError]:
    """The error class of an HTTP status (``StoreError`` when it is unknown)."""
    return HTTP_STATUS.get(status or 0, StoreError)

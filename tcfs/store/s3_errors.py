"""S3 errors → tcfs errors, from one table.

Translation looks at the error *code* and the HTTP status of a botocore
``ClientError`` (never at the message text), and at the class of connection
errors.  Unknown codes become a plain ``StoreError`` naming the code, so a new
failure mode is visible rather than silently mapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from botocore import exceptions as bex

from tcfs.errors import (
    AccessDenied,
    BackendUnavailable,
    NoCredentials,
    NotFound,
    PreconditionFailed,
    StoreError,
    StoreTimeout,
    TcfsError,
    TemporaryFailure,
    Unsupported,
)
from tcfs.store.http_status import HTTP_STATUS, NotModified, RangeNotSatisfiable

__all__ = [
    "HTTP_STATUS",
    "NoCredentials",
    "NoSuchBucket",
    "NotModified",
    "RangeNotSatisfiable",
    "translate",
]


class NoSuchBucket(NotFound):
    """The bucket itself is missing (never swallowed like an absent key)."""


@dataclass(frozen=True)
class _Where:
    op: str
    bucket: str
    key: str
    conditional: bool


# error code → tcfs error class
ERROR_CODES: dict[str, type[StoreError]] = {
    "NoSuchKey": NotFound,
    "NotFound": NotFound,
    "404": NotFound,
    "NoSuchBucket": NoSuchBucket,
    "NoSuchUpload": NotFound,
    "PreconditionFailed": PreconditionFailed,
    "412": PreconditionFailed,
    "ConditionalRequestConflict": TemporaryFailure,
    "OperationAborted": TemporaryFailure,
    "AccessDenied": AccessDenied,
    "403": AccessDenied,
    "Forbidden": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "ExpiredToken": AccessDenied,
    "InvalidToken": AccessDenied,
    "TokenRefreshRequired": AccessDenied,
    "AllAccessDisabled": AccessDenied,
    "AccountProblem": AccessDenied,
    "SlowDown": TemporaryFailure,
    "Throttling": TemporaryFailure,
    "ThrottlingException": TemporaryFailure,
    "RequestLimitExceeded": TemporaryFailure,
    "TooManyRequests": TemporaryFailure,
    "ServiceUnavailable": TemporaryFailure,
    "InternalError": TemporaryFailure,
    "RequestTimeout": TemporaryFailure,
    "RequestTimeTooSkewed": AccessDenied,
    "NotImplemented": Unsupported,
    "InvalidRange": RangeNotSatisfiable,
    "304": NotModified,
    "NotModified": NotModified,
}

# connection-level botocore errors, most specific first
CONNECTION_ERRORS: tuple[tuple[type[Exception], type[StoreError]], ...] = (
    (bex.ConnectTimeoutError, StoreTimeout),
    (bex.ReadTimeoutError, StoreTimeout),
    (bex.EndpointConnectionError, BackendUnavailable),
    (bex.ConnectionClosedError, BackendUnavailable),
    (bex.HTTPClientError, BackendUnavailable),
)


def _client_error(exc: bex.ClientError, where: _Where) -> StoreError:
    err = exc.response.get("Error", {}) or {}
    code = str(err.get("Code") or "")
    status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    cls = ERROR_CODES.get(code) or HTTP_STATUS.get(status)
    target = f"s3://{where.bucket}/{where.key}" if where.key else f"s3://{where.bucket}"
    if cls is None:
        return StoreError(f"S3 {where.op} on {target} failed: {code or 'error'} (HTTP {status})")
    if cls is NoSuchBucket:
        return NoSuchBucket(f"bucket {where.bucket} does not exist")
    if cls is NotFound:
        return NotFound(f"no such key: {target}")
    if cls is PreconditionFailed:
        return PreconditionFailed(f"precondition failed on {target} (someone else wrote it)")
    if cls is AccessDenied:
        return AccessDenied(
            f"access denied to {target} ({code or status}): check the credentials and the "
            "bucket policy"
        )
    if cls is Unsupported:
        if where.conditional:
            return Unsupported(
                f"the S3 endpoint does not implement conditional requests (If-None-Match / "
                f"If-Match) for {where.op}: claims cannot be made safe on it ({code or status})"
            )
        return Unsupported(f"the S3 endpoint does not implement {where.op} ({code or status})")
    return cls(f"S3 {where.op} on {target}: {code or 'HTTP'} ({status})")


_USERINFO = re.compile(r"(\w+://)[^/@\s\"']+@")


def _shown(exc: BaseException) -> str:
    """An exception's text without any ``user:password@`` of a URL in it
    (botocore names the endpoint URL it could not reach, as it was given)."""
    return _USERINFO.sub(r"\1", str(exc))


def translate(
    exc: BaseException, *, op: str, bucket: str, key: str = "", conditional: bool = False
) -> TcfsError:
    """The tcfs error for a botocore exception (``cause`` keeps the original)."""
    where = _Where(op, bucket, key, conditional)
    if isinstance(exc, TcfsError):
        return exc
    if isinstance(exc, bex.ClientError):
        out: TcfsError = _client_error(exc, where)
    elif isinstance(exc, bex.ParamValidationError):
        if conditional:
            out = Unsupported(
                "this botocore cannot send conditional requests (IfMatch / IfNoneMatch): "
                "install boto3>=1.35.69"
            )
        else:
            out = StoreError(f"S3 {op}: invalid request parameters")
    elif isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
        out = NoCredentials(
            "no S3 credentials found: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or another source of the standard AWS chain"
        )
    elif isinstance(exc, bex.SSLError):
        # before the connection errors it is one of: retrying will not help
        out = StoreError(
            f"S3 {op}: TLS with the endpoint failed: {_shown(exc)} (a private CA's "
            "certificate: set AWS_CA_BUNDLE to it)"
        )
    else:
        for exc_cls, cls in CONNECTION_ERRORS:
            if isinstance(exc, exc_cls):
                what = "timed out" if cls is StoreTimeout else "cannot reach the endpoint"
                out = cls(f"S3 {op} {what}: {_shown(exc)}")
                break
        else:
            out = StoreError(f"S3 {op} failed: {type(exc).__name__}: {_shown(exc)}")
    out.__cause__ = exc
    return out

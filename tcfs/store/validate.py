"""Key and prefix checks shared by the remote backends.

A malformed key is refused with ``InvalidName`` before any request is made, so
it never becomes an object: no empty segments, no ``.`` or ``..`` segments, no
leading ``/``, no control characters, valid UTF-8, and the full object key
(``<project>/<key>``) within S3's 1024-byte limit.
"""

from __future__ import annotations

import re

from tcfs.errors import InvalidName

MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_parts(text: str, what: str) -> None:
    if _CONTROL.search(text):
        raise InvalidName(f"invalid {what} {text!r}: control characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidName(f"invalid {what} {text!r}: not valid UTF-8") from exc
    if text.startswith("/"):
        raise InvalidName(f"invalid {what} {text!r}: must not start with '/'")
    if any(part in ("", ".", "..") for part in text.split("/")):
        raise InvalidName(f"invalid {what} {text!r}: empty, '.' or '..' segment")


def check_key(key: str, project: str) -> str:
    """The full object key for a project-relative ``key``, or ``InvalidName``."""
    if not isinstance(key, str) or not key:
        raise InvalidName(f"invalid object key {key!r}")
    _check_parts(key, "object key")
    full = f"{project}/{key}"
    if len(full.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidName(f"object key too long ({len(full.encode())} bytes > {MAX_KEY_BYTES})")
    return full


def check_prefix(prefix: str, project: str) -> str:
    """The full listing prefix for a project-relative ``prefix`` ("" = everything)."""
    if not isinstance(prefix, str):
        raise InvalidName(f"invalid prefix {prefix!r}")
    if prefix:
        _check_parts(prefix[:-1] if prefix.endswith("/") else prefix, "prefix")
    return f"{project}/{prefix}"

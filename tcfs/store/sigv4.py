"""AWS Signature Version 4 for S3 requests, as botocore's ``S3SigV4Auth`` signs them.

The short path (``s3_wire``) signs its own requests: botocore's signer wants
an ``AWSRequest`` and derives the signing key again for every request.  The
output is the same, byte for byte (``tests/store/test_s3_wire.py`` compares).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

#: headers a signature leaves out (botocore's list of those a hop may change)
UNSIGNED_HEADERS = {"user-agent", "expect", "connection", "transfer-encoding", "content-length"}


class Signer:
    """AWS Signature Version 4 for S3, as botocore's ``S3SigV4Auth`` computes it
    (the payload hashed, every header but ``UNSIGNED_HEADERS`` signed), with
    the day's signing key kept instead of derived again for every request."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._key: tuple[tuple[str, str], bytes] | None = None

    def _signing_key(self, secret: str, day: str) -> bytes:
        if self._key is not None and self._key[0] == (secret, day):
            return self._key[1]
        key = ("AWS4" + secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self._key = ((secret, day), key)
        return key

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes | None,
        credentials: Any,
        amz_date: str | None = None,
    ) -> dict[str, str]:
        """``headers`` with the signature's own added (``host`` and the query
        string as sent; ``path`` already percent-encoded, as S3 signs it)."""
        when = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        out = {**headers, "Host": host, "X-Amz-Date": when}
        out["X-Amz-Content-SHA256"] = hashlib.sha256(body or b"").hexdigest()
        if credentials.token:
            out["X-Amz-Security-Token"] = credentials.token
        signed = sorted(
            (k.lower(), " ".join(str(v).split()))
            for k, v in out.items()
            if k.lower() not in UNSIGNED_HEADERS
        )
        names = ";".join(k for k, _ in signed)
        pairs = sorted(
            tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p
        )
        canonical = "\n".join(
            (
                method,
                path,
                "&".join(f"{k}={v}" for k, v in pairs),
                "".join(f"{k}:{v}\n" for k, v in signed),
                names,
                out["X-Amz-Content-SHA256"],
            )
        )
        scope = f"{when[:8]}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ("AWS4-HMAC-SHA256", when, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        key = self._signing_key(credentials.secret_key, when[:8])
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return out


def host_header(parts: Any) -> str:
    """The Host header for a URL: its host, and its port unless it is the scheme's default."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    default = 443 if parts.scheme == "https" else 80
    return f"{host}:{parts.port}" if parts.port and parts.port != default else host

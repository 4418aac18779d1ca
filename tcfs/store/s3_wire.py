"""The short path for one-key requests and listings, sent without botocore's client stack.

A mount's commands are mostly one GET, PUT, HEAD or DELETE of a small record.
Through a botocore client each costs 3-4 ms of CPU on a small machine
(parameter validation, a dozen event hooks, endpoint rules, the response
model, ``dateutil``, ``http.client``'s header parsing), time the shell waits
for on top of the round trip, and which two requests sent together pay one
after the other under the GIL.  This path sends the same request for under
1 ms:

* signed as botocore signs it (``sigv4``) with the session's credentials
  (refreshed as botocore refreshes them);
* sent on kept-alive connections of its own (``http1``), with the store's
  timeouts and the client's certificate settings; connection failures are
  raised as the client's (``EndpointConnectionError``, ``ReadTimeoutError``,
  ...), so they are translated and retried alike.  Behind a proxy (the
  client's ``proxies`` or the environment's) there is no short path;
* answered in the client's shapes: a dict with the fields callers read, or a
  ``ClientError`` carrying the code and HTTP status, so the choke point, the
  retry policy and the error table do not know which path ran.

Anything else (multipart uploads, a body over ``SEND_AT_ONCE``, a streamed
read) goes through the client.  An answer that says the request went to the
wrong place (a region redirect) was not carried out; the request is sent
again through the client, which knows how to follow it, and the short path
is off for the store from then on.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from http.client import responses
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit

from botocore.utils import check_dns_name

from tcfs import __version__
from tcfs.store.http1 import BadRequest, ConnectFailed, ConnectTimeout, Pool, tls_context
from tcfs.store.sigv4 import Signer, host_header

log = logging.getLogger(__name__)

#: how the short path's requests name themselves (the client's say "Boto3/…")
USER_AGENT = f"tcfs/{__version__} (short path)"
#: operations the short path sends: client method name -> HTTP method
METHODS = {
    "get_object": "GET",
    "head_object": "HEAD",
    "put_object": "PUT",
    "delete_object": "DELETE",
    "list_objects_v2": "GET",
}
#: request parameters it understands (any other sends the request through the client)
PARAMS = {
    "Bucket",
    "Key",
    "Body",
    "Range",
    "IfMatch",
    "IfNoneMatch",
}
#: a listing's parameters -> its query string's names
LIST_PARAMS = {
    "Bucket": "",
    "Prefix": "prefix",
    "Delimiter": "delimiter",
    "MaxKeys": "max-keys",
    "StartAfter": "start-after",
    "ContinuationToken": "continuation-token",
}
HEADERS = {"Range": "Range", "IfMatch": "If-Match", "IfNoneMatch": "If-None-Match"}
#: codes of an answer from the wrong region: nothing was done, the client follows them
REDIRECTS = {
    "PermanentRedirect",
    "TemporaryRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}


class Declined(Exception):
    """The short path did not get the request carried out (no credentials of its
    own, or the server pointed elsewhere): the client sends it."""


def _code_and_message(status: int, body: bytes) -> tuple[str, str]:
    """An error answer's code and message, as botocore reads them: from an XML
    body (``<Error>`` or ``<ErrorResponse><Error>``, any namespace; an XML page
    without a code gives an empty one), else from the status."""
    if body:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is not None:
            fields = _fields(next((c for c in root if _local(c.tag) == "Error"), root))
            return fields.get("Code", ""), fields.get("Message", "")
    return str(status), responses.get(status, "")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fields(node: ET.Element) -> dict[str, str]:
    """An XML element's children by local name (any namespace): their text."""
    return {_local(c.tag): (c.text or "") for c in node}


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


class Wire:
    """Sends ``METHODS`` requests for one S3 client; ``handles`` says which."""

    def __init__(
        self,
        client: Any,
        credentials: Callable[[], Any],
        *,
        region: str,
        path_style: bool,
        max_body: int,
        connect_timeout: float,
        read_timeout: float,
        verify: Any = True,
    ) -> None:
        import botocore
        from botocore import exceptions

        self._bex = exceptions
        self._signer = Signer(region)
        self._credentials = credentials
        self._max_body = max_body
        parts = urlsplit(client.meta.endpoint_url)
        # host and port only: a user:password in the endpoint URL never reaches
        # a request line, a Host header or an error message
        self._scheme, self._host = parts.scheme, host_header(parts)
        self._base_path = parts.path.rstrip("/")
        self._path_style = path_style
        self._agent = f"{USER_AGENT} botocore/{botocore.__version__}"
        self._timeouts = (connect_timeout, read_timeout)
        self._verify = verify
        self._pools: dict[str, Pool] = {}
        self._pools_lock = threading.Lock()
        self.enabled = True

    @classmethod
    def for_client(
        cls,
        client: Any,
        session: Any,
        *,
        path_style: bool,
        max_body: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> Wire | None:
        """The short path for ``client``; ``None`` where it could not send what the client sends."""
        region = client.meta.region_name
        url = client.meta.endpoint_url
        if not region or not url or urlsplit(url).scheme not in ("http", "https"):
            return None
        if client.meta.config.signature_version not in (None, "s3v4", "v4"):
            return None
        if client.meta.config.proxies or _proxied(url):
            return None  # the client knows how to talk through a proxy
        http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
        return cls(
            client,
            session.get_credentials,
            region=region,
            path_style=path_style,
            max_body=max_body,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # the client's certificate settings (its CA bundle, or verify=False)
            verify=getattr(http_session, "_verify", True),
        )

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def handles(self, op: str, kwargs: dict[str, Any], read_body: bool) -> bool:
        if not self.enabled or op not in METHODS:
            return False
        if not kwargs.keys() <= (LIST_PARAMS.keys() if op == "list_objects_v2" else PARAMS):
            return False
        if op == "get_object" and not read_body:
            return False  # a streamed read stays with the client
        body = kwargs.get("Body")
        if body is not None and (not isinstance(body, bytes) or len(body) > self._max_body):
            return False
        return self._path_style or check_dns_name(str(kwargs["Bucket"]))

    def _where(self, bucket: str, key: str) -> tuple[str, str]:
        """(host, percent-encoded path) of a request, path-style or virtual-hosted."""
        path = quote(key, safe="/~")
        if self._path_style:
            return self._host, f"{self._base_path}/{bucket}/{path}"
        return f"{bucket}.{self._host}", f"{self._base_path}/{path}"

    def _pool(self, netloc: str) -> Pool:
        with self._pools_lock:
            pool = self._pools.get(netloc)
            if pool is None:
                parts = urlsplit(f"{self._scheme}://{netloc}")
                connect, read = self._timeouts
                pool = Pool(
                    parts.hostname or netloc,
                    parts.port or (443 if self._scheme == "https" else 80),
                    connect=connect,
                    read=read,
                    tls=tls_context(self._verify) if self._scheme == "https" else None,
                )
                self._pools[netloc] = pool
            return pool

    def send(self, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One request; the client's answer shape, or ``ClientError``; ``Declined``
        when it went to the wrong place (the short path then turns itself off)."""
        method = METHODS[op]
        headers = {HEADERS[k]: str(v) for k, v in kwargs.items() if k in HEADERS}
        headers["User-Agent"] = self._agent
        body = kwargs.get("Body")
        creds = self._credentials()
        if creds is None:
            raise Declined("no credentials: the client raises the right error")
        listing = op == "list_objects_v2"
        query = ""
        if listing:
            # Keys come back URL-encoded, as the client asks for them: a key
            # with a character XML cannot carry still lists.
            fields = [("encoding-type", "url"), ("list-type", "2")] + [
                (LIST_PARAMS[k], str(v)) for k, v in kwargs.items() if k != "Bucket"
            ]
            query = "&".join(
                f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(fields)
            )
        host, path = self._where(kwargs["Bucket"], "" if listing else kwargs["Key"])
        signed = self._signer.sign(
            method, host, path, query, headers, body, creds.get_frozen_credentials()
        )
        target = f"{path}?{query}" if query else path
        url = f"{self._scheme}://{host}{target}"  # for error messages only
        status, lowered, content = self._exchange(host, method, target, body, signed, url)
        meta = {"HTTPStatusCode": status, "HTTPHeaders": lowered}
        if status >= 300:
            code, message = _code_and_message(status, content)
            if (
                code in REDIRECTS
                or status in (301, 307)
                or (status == 400 and "x-amz-bucket-region" in lowered)
            ):
                self.enabled = False
                log.info(
                    "s3: %s answered %s (%s); requests go through the client", op, status, code
                )
                raise Declined(code)
            raise self._bex.ClientError(
                {"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta},
                _operation_name(op),
            )
        if listing:
            return {"ResponseMetadata": meta, **_listing(content)}
        out: dict[str, Any] = {"ResponseMetadata": meta}
        if "etag" in lowered:
            out["ETag"] = lowered["etag"]
        modified = _timestamp(lowered.get("last-modified"))
        if modified is not None:
            out["LastModified"] = modified
        if "content-length" in lowered and lowered["content-length"].isdigit():
            out["ContentLength"] = int(lowered["content-length"])
        if "content-range" in lowered:
            out["ContentRange"] = lowered["content-range"]
        if method == "GET":
            out["Body"] = content
        return out

    def _exchange(
        self,
        netloc: str,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        url: str,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request and its whole answer on a pooled connection; connection
        failures as the client's exceptions."""
        bex = self._bex
        pool = self._pool(netloc)
        try:
            conn = pool.take()
        except ConnectTimeout as exc:
            raise bex.ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except ConnectFailed as exc:
            raise bex.EndpointConnectionError(endpoint_url=url, error=exc) from exc
        try:
            answer = conn.exchange(method, path, headers, body)
        except BadRequest as exc:
            pool.give(conn)  # nothing was sent on it
            raise bex.ParamValidationError(report=str(exc)) from exc
        except TimeoutError as exc:
            conn.close()
            raise bex.ReadTimeoutError(endpoint_url=url, error=exc) from exc
        except (OSError, ValueError) as exc:  # ConnectionError, BadAnswer, ssl errors
            conn.close()
            raise bex.ConnectionClosedError(endpoint_url=url) from exc
        except BaseException:
            conn.close()
            raise
        pool.give(conn)
        return answer.status, answer.headers, answer.body


def _proxied(url: str) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def _listing(body: bytes) -> dict[str, Any]:
    """A ListObjectsV2 answer (``encoding-type=url``) in the client's shape."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        from botocore.exceptions import ResponseParserError

        raise ResponseParserError(f"unreadable listing: {exc}") from exc
    out: dict[str, Any] = {"IsTruncated": False}
    contents: list[dict[str, Any]] = []
    prefixes: list[dict[str, str]] = []
    for node in root:
        tag = _local(node.tag)
        if tag == "Contents":
            f = _fields(node)
            item: dict[str, Any] = {"Key": unquote_plus(f.get("Key", "")), "ETag": f.get("ETag")}
            if f.get("Size", "").isdigit():
                item["Size"] = int(f["Size"])
            modified = _iso(f.get("LastModified"))
            if modified is not None:
                item["LastModified"] = modified
            contents.append(item)
        elif tag == "CommonPrefixes":
            f = _fields(node)
            prefixes.append({"Prefix": unquote_plus(f.get("Prefix", ""))})
        elif tag == "IsTruncated":
            out["IsTruncated"] = (node.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            out["NextContinuationToken"] = node.text or ""
        elif tag == "KeyCount" and (node.text or "").isdigit():
            out["KeyCount"] = int(node.text or "0")
    if contents:
        out["Contents"] = contents
    if prefixes:
        out["CommonPrefixes"] = prefixes
    return out


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _operation_name(op: str) -> str:
    return "".join(part.title() for part in op.split("_"))

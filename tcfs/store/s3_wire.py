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
read) goes through the client.  The short path is fenced: it is off for a
client whose requests it could not send exactly as the client does.  When the
store opens, botocore's client prepares a GET and a listing of the store's
bucket (resolved, never signed or sent) and the short path compares their URLs
with its own; any difference (a FIPS or accelerated endpoint, any endpoint rule
it does not mirror), a botocore outside the series it was tested with, a proxy,
or a signature other than SigV4 leaves every request to the client, said once
in the log.  Each answer's body is read up to a bound for its kind
(``body_limit``), never without one.

An answer that says the request went to the wrong place (a region redirect)
was not carried out; the request is sent again through the client, which
knows how to follow it, and the short path is off for the store from then on.
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
from urllib.parse import parse_qsl, quote, unquote_plus, urlsplit

from botocore.utils import check_dns_name

from tcfs import __version__
from tcfs.store.http1 import (
    AnswerTooLarge,
    BadRequest,
    ConnectFailed,
    ConnectTimeout,
    Pool,
    TlsFailed,
    tls_context,
)
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


#: the botocore minor series the short path is tested with (it reads the client's
#: certificate settings from a private attribute): any other gets the client only
BOTOCORE_TESTED = ((1, 35), (1, 44))
#: the most of an answer's body read, by request kind: a page of 1000 keys of
#: up to 1024 bytes, URL-encoded, stays far below the first
LISTING_MAX = 16 << 20
#: a whole-object GET (an object announced larger is read by the client, as asked)
OBJECT_MAX = 64 << 20
#: an error's XML, a HEAD, PUT or DELETE, or a ranged read smaller than this
SMALL_ANSWER_MAX = 64 << 10
#: the key of the GET whose URL is compared (characters the two encoders must agree on)
PARITY_KEY = "tcfs-parity/a b+ü~%.json"


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
        bucket: str,
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
        self._bucket = bucket
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
        bucket: str,
        path_style: bool,
        max_body: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> Wire | None:
        """The short path for ``client``'s requests to ``bucket``; ``None`` (said
        once in the log) where it could not send exactly what the client sends."""
        why_not = _unsupported(client)
        if why_not is None:
            wire = cls(
                client,
                session.get_credentials,
                bucket=bucket,
                region=client.meta.region_name,
                path_style=path_style,
                max_body=max_body,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                verify=_client_verify(client),
            )
            why_not = wire.differs_from(client)
            if why_not is None:
                return wire
            wire.close()
        log.info("s3: no short path (%s): every request goes through the client", why_not)
        return None

    def differs_from(self, client: Any) -> str | None:
        """How the URLs botocore's client prepares for a GET and a listing of
        the bucket differ from this path's (``None``: they are the same)."""
        probes: list[tuple[str, dict[str, Any]]] = [
            ("get_object", {"Bucket": self._bucket, "Key": PARITY_KEY}),
            ("list_objects_v2", {"Bucket": self._bucket, "Prefix": PARITY_KEY}),
        ]
        for op, kwargs in probes:
            if not self.handles(op, kwargs, read_body=True):
                return f"the bucket name {self._bucket!r} needs the client's addressing"
            try:
                theirs = urlsplit(_prepared_url(client, op, kwargs))
            except Exception as exc:  # the client's endpoint rules refused: so will its calls
                return f"the client cannot prepare {op}: {type(exc).__name__}"
            host, path, query = self._target(op, kwargs)
            ours = (self._scheme, host, path, _query(query))
            if ours != (theirs.scheme, host_header(theirs), theirs.path, _query(theirs.query)):
                # host and port only: never a user:password of the endpoint URL
                return f"the client sends {op} to {theirs.scheme}://{host_header(theirs)}"
        return None

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def handles(self, op: str, kwargs: dict[str, Any], read_body: bool) -> bool:
        if not self.enabled or op not in METHODS or kwargs.get("Bucket") != self._bucket:
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
        """(host, percent-encoded path) of a request, path-style or virtual-hosted
        (a bucket's own path, as the client writes it: ``/bucket`` or ``/``)."""
        path = quote(key, safe="/~")
        if self._path_style:
            return self._host, f"{self._base_path}/{bucket}" + (f"/{path}" if key else "")
        return f"{bucket}.{self._host}", f"{self._base_path}/{path}"

    def _target(self, op: str, kwargs: dict[str, Any]) -> tuple[str, str, str]:
        """(host, percent-encoded path, query string) of a request."""
        if op != "list_objects_v2":
            return (*self._where(kwargs["Bucket"], kwargs["Key"]), "")
        # Keys come back URL-encoded, as the client asks for them: a key with a
        # character XML cannot carry still lists.
        fields = [("encoding-type", "url"), ("list-type", "2")] + [
            (LIST_PARAMS[k], str(v)) for k, v in kwargs.items() if k != "Bucket"
        ]
        query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(fields)
        )
        return (*self._where(kwargs["Bucket"], ""), query)

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
        host, path, query = self._target(op, kwargs)
        signed = self._signer.sign(
            method, host, path, query, headers, body, creds.get_frozen_credentials()
        )
        target = f"{path}?{query}" if query else path
        url = f"{self._scheme}://{host}{target}"  # for error messages only
        try:
            status, lowered, content = self._exchange(
                host, method, target, body, signed, url, body_limit(op, kwargs)
            )
        except AnswerTooLarge as exc:
            if exc.announced and op == "get_object" and "Range" not in kwargs:
                raise Declined("a whole object over the short path's bound") from exc
            raise
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
        limit: int,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request and its whole answer (a body of at most ``limit`` bytes)
        on a pooled connection; connection failures as the client's exceptions."""
        bex = self._bex
        pool = self._pool(netloc)
        try:
            conn = pool.take()
        except ConnectTimeout as exc:
            raise bex.ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except TlsFailed as exc:  # as the client says it: the certificate's complaint
            raise bex.SSLError(endpoint_url=url, error=exc.__cause__ or exc) from exc
        except ConnectFailed as exc:
            raise bex.EndpointConnectionError(endpoint_url=url, error=exc) from exc
        try:
            answer = conn.exchange(method, path, headers, body, limit=limit)
        except AnswerTooLarge:
            conn.close()  # the rest of the body is still on its way
            raise
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


def body_limit(op: str, kwargs: dict[str, Any]) -> int:
    """The most of an answer's body read for a request: a ranged read keeps its
    block size, a listing one page, a whole object ``OBJECT_MAX``."""
    if op == "list_objects_v2":
        return LISTING_MAX
    if op != "get_object":
        return SMALL_ANSWER_MAX
    if "Range" not in kwargs:
        return OBJECT_MAX
    first, _, last = str(kwargs["Range"]).removeprefix("bytes=").partition("-")
    if not (first.isdigit() and last.isdigit()):
        return OBJECT_MAX
    return max(int(last) - int(first) + 1, SMALL_ANSWER_MAX)


def _unsupported(client: Any) -> str | None:
    """Why the short path cannot send ``client``'s requests, before comparing URLs."""
    import botocore

    version = botocore.__version__
    parts = version.split(".")[:2]
    series = tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()
    if not BOTOCORE_TESTED[0] <= series <= BOTOCORE_TESTED[1]:
        return f"botocore {version} is not a series it was tested with"
    url = client.meta.endpoint_url
    if not client.meta.region_name or not url or urlsplit(url).scheme not in ("http", "https"):
        return "no region or no HTTP endpoint"
    if client.meta.config.signature_version not in (None, "s3v4", "v4"):
        return "a signature other than SigV4"
    if client.meta.config.proxies or _proxied(url):
        return "a proxy"  # the client knows how to talk through one
    if _client_verify(client) is None:
        return "the client's certificate settings cannot be read"
    return None


def _client_verify(client: Any) -> Any:
    """The client's certificate settings (True, False or a CA bundle path);
    ``None`` where this botocore keeps them elsewhere."""
    http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    return getattr(http_session, "_verify", None)


class _Prepared(Exception):
    """Stops a client call once botocore has resolved its URL (before it signs or sends)."""

    def __init__(self, url: str) -> None:
        self.url = url


def _prepared_url(client: Any, op: str, kwargs: dict[str, Any]) -> str:
    """The URL botocore's client would send ``op`` to; nothing is sent."""

    def stop(params: dict[str, Any], **_: Any) -> None:
        raise _Prepared(params["url"])

    event = f"before-call.s3.{_operation_name(op)}"
    client.meta.events.register_first(event, stop, unique_id="tcfs-parity")
    try:
        getattr(client, op)(**kwargs)
    except _Prepared as prepared:
        return prepared.url
    finally:
        client.meta.events.unregister(event, unique_id="tcfs-parity")
    raise RuntimeError(f"the client ran {op} instead of preparing it")


def _query(query: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(query))


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

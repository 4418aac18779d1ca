"""A small HTTP proxy on 127.0.0.1 between a client and an S3 endpoint, for the
tests and the benchmark alike.

It records every request with what happened to it: the endpoint's status and
the ETag it answered (so a test can tell which writes the endpoint applied even
when the client never heard), the S3 operation and bucket (for the benchmark's
counts of one bucket inside a time window), and its times.

A hook decides per request, and may edit it first (drop headers, as an
endpoint that ignores conditions would): forward it, answer with an S3 error
without forwarding, reset the connection, drop or replace the answer after the
endpoint has acted, or hold it a while.  ``FaultInjector`` is the general hook:
at a given rate, chosen with a seeded RNG, one of ``FAULT_KINDS``; it counts
what it injected.

RTT mode (``rtt_ms``) adds a fixed round trip to every request, half before it
is forwarded and half after the answer, as the way there and back of a real
bucket: on loopback a request costs about 5 ms, which hides requests sent one
after the other.  Requests on different connections wait in parallel, so
concurrent requests cost one round trip, not one each.  A request that asks for
``100 Continue`` before sending its body waits one round trip more for it, as
it would on a real bucket.  ``pad_ms`` instead makes every request take that
long in all, the server's own time included.  Each request also carries the
upstream server's own time (``upstream_ms``), so a command's time can be split
into the added round trips, the server's service time, and the rest.  The round
trip counts from the moment the request line arrives, and the proxy's own work
(parsing, relaying) is done inside it: a network's latency does not grow with a
relay's CPU time.  To keep that work small the relay parses a request only as
far as framing needs, and keeps one upstream connection per client connection.

Only path-style addressing is understood (``/bucket/key``), which is what every
client here uses against a custom endpoint.
"""

# The benchmark already starts its S3 servers from tests/support, so the one
# proxy lives beside them and the benchmark imports it from here too.

from __future__ import annotations

import contextlib
import http.client
import random
import re
import select
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


def classify(method: str, path: str, headers: dict[str, str]) -> tuple[str, str]:
    """(bucket, S3 operation name) of one path-style request; ``headers`` by
    lower-case name."""
    parts = urlsplit(path)
    segs = parts.path.lstrip("/").split("/", 1)
    bucket = segs[0]
    has_key = len(segs) == 2 and segs[1] != ""
    q = parse_qs(parts.query, keep_blank_values=True)
    if method == "GET":
        if not has_key:
            return bucket, "ListObjectsV2" if "list-type" in q else "ListObjects"
        return bucket, "GetObject"
    if method == "HEAD":
        return bucket, "HeadObject" if has_key else "HeadBucket"
    if method == "PUT":
        if not has_key:
            return bucket, "CreateBucket"
        if "partNumber" in q:
            return bucket, "UploadPart"
        if "x-amz-copy-source" in headers:
            return bucket, "CopyObject"
        return bucket, "PutObject"
    if method == "DELETE":
        if not has_key:
            return bucket, "DeleteBucket"
        return bucket, "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
    if method == "POST":
        if "delete" in q:
            return bucket, "DeleteObjects"
        if "uploads" in q:
            return bucket, "CreateMultipartUpload"
        if "uploadId" in q:
            return bucket, "CompleteMultipartUpload"
    return bucket, method


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    extra: dict[str, object] = field(default_factory=dict)
    #: wall-clock time the request arrived, and the time the endpoint answered it
    t: float = 0.0
    t_done: float | None = None
    #: the fault injected into this request, if any (a ``FAULT_KINDS`` name)
    fault: str | None = None
    #: the endpoint's HTTP status when the request was forwarded (None: it never was)
    status: int | None = None
    #: the ETag the endpoint answered with (a write's new version)
    etag: str | None = None
    #: time.monotonic() when its round trip began, and when the answer went back
    began: float = 0.0
    replied: float | None = None
    #: the endpoint's own time for it, without the added round trip
    upstream_ms: float = 0.0
    #: its bucket and S3 operation (``PutObject``, ``ListObjectsV2``, …)
    bucket: str = field(init=False)
    op: str = field(init=False)

    def __post_init__(self) -> None:
        lower = {k.lower(): v for k, v in self.headers}
        self.bucket, self.op = classify(self.method, self.target, lower)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def drop_header(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]

    @property
    def key(self) -> str:
        """The object key (or bucket-level path)."""
        return urlsplit(self.target).path.lstrip("/").partition("/")[2]

    @property
    def access_key(self) -> str | None:
        """The SigV4 access key id: tells apart clients given distinct keys."""
        m = _CREDENTIAL.search(self.header("Authorization") or "")
        return m.group(1) if m else None

    @property
    def applied(self) -> bool:
        """The endpoint accepted it (2xx), whether or not the client heard."""
        return self.status is not None and 200 <= self.status < 300


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def by_op(requests: Iterable[Request]) -> dict[str, int]:
    """How many of ``requests`` each S3 operation took; refusals apart (``PutObject:412``)."""
    c = Counter(
        r.op if r.status is not None and r.status < 300 else f"{r.op}:{r.status}" for r in requests
    )
    return dict(sorted(c.items()))


@dataclass(frozen=True)
class Action:
    """What the proxy does with one request."""

    forward: bool = True  # send it to the endpoint (which then acts on it)
    delay: float = 0.0  # seconds to hold it first
    answer: tuple[int, bytes] | None = None  # answer this instead of the endpoint's answer
    reset: bool = False  # close the connection with a reset instead of answering
    fault: str | None = None  # the name this is counted under


#: a hook sees each request (and may edit it) and returns an ``Action``, or one
#: of the short forms: "forward", "drop" (forward it, then reset the client's
#: connection without an answer), or ``(status, body)``: answer it here without
#: forwarding (e.g. a 503 SlowDown)
Hook = Callable[[Request], "Action | str | tuple[int, bytes]"]

FORWARD = Action()


def as_action(result: Action | str | tuple[int, bytes]) -> Action:
    if isinstance(result, Action):
        return result
    if isinstance(result, tuple):
        return Action(forward=False, answer=result)
    if result == "drop":
        return Action(reset=True)
    if result == "forward":
        return FORWARD
    raise ValueError(f"unknown proxy action {result!r}")


def s3_error(code: str, message: str) -> bytes:
    """An S3 error document, as the endpoint would send it."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
    ).encode()


#: what S3 answers a client that writes too fast (R2 and GCS: about once a second per key)
SLOW_DOWN = s3_error("SlowDown", "Please reduce your request rate.")
INTERNAL_ERROR = s3_error("InternalError", "We encountered an internal error. Please try again.")

#: kind → the action it takes; "lost_*" reach the endpoint, which acts, and
#: only the answer is lost
FAULT_ACTIONS: dict[str, Action] = {
    "slowdown_503": Action(forward=False, answer=(503, SLOW_DOWN), fault="slowdown_503"),
    "internal_500": Action(forward=False, answer=(500, INTERNAL_ERROR), fault="internal_500"),
    "reset": Action(forward=False, reset=True, fault="reset"),
    "lost_reset": Action(reset=True, fault="lost_reset"),
    "lost_500": Action(answer=(500, INTERNAL_ERROR), fault="lost_500"),
    "latency": Action(fault="latency"),  # the delay is drawn per request
}
FAULT_KINDS = tuple(FAULT_ACTIONS)


class FaultInjector:
    """A hook that injects one of ``kinds`` into a ``rate`` fraction of requests.

    Choices come from one RNG seeded with ``seed`` (the order requests arrive in
    still varies between runs).  ``enabled`` switches it off and on; ``counts``
    is what was injected, by kind.
    """

    def __init__(
        self,
        rate: float,
        *,
        seed: int,
        kinds: tuple[str, ...] = FAULT_KINDS,
        spike: tuple[float, float] = (0.2, 1.0),
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"fault rate {rate} is not in [0, 1]")
        unknown = set(kinds) - set(FAULT_ACTIONS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.rate = rate
        self.kinds = kinds
        self.spike = spike
        self.enabled = True
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Action:
        with self._lock:
            if not self.enabled or self._rng.random() >= self.rate:
                return FORWARD
            kind = self._rng.choice(self.kinds)
            delay = self._rng.uniform(*self.spike)
            self.counts[kind] += 1
        action = FAULT_ACTIONS[kind]
        if kind == "latency":
            return Action(delay=delay, fault=kind)
        return action


def refuse(
    match: Callable[[Request], bool], status: int, times: int
) -> tuple[Hook, dict[str, int]]:
    """A hook that answers the first ``times`` matching requests with ``status``
    SlowDown, and forwards the rest; ``state["refused"]`` counts them."""
    state = {"refused": 0}

    def hook(req: Request) -> str | tuple[int, bytes]:
        if match(req) and state["refused"] < times:
            state["refused"] += 1
            return (status, SLOW_DOWN)
        return "forward"

    return hook, state


def strip_conditions(req: Request) -> str:
    """A hook for an endpoint that ignores conditional writes (Garage 2.0, older
    SeaweedFS): forward each request without its ``If-None-Match`` and
    ``If-Match`` (moto does not check signatures, so it still accepts them)."""
    req.drop_header("If-None-Match")
    req.drop_header("If-Match")
    return "forward"


# Headers of the hop, not the payload: the relay frames every body with a
# Content-Length again, upstream never sees an Expect the proxy answered, and
# each side's connection lives on its own (moto closes its connection after
# every answer; the client's to the proxy stays open, as to a real endpoint).
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_REQUEST_DROP = _HOP | {"expect"}
_LINE_MAX = 65536


def _sleep_until(deadline: float) -> None:
    wait = deadline - time.monotonic()
    if wait > 0:
        time.sleep(wait)


class _Peer:
    """One HTTP/1.1 connection read a line or a known length at a time."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.rfile = sock.makefile("rb")

    def head(self) -> list[bytes] | None:
        """The start line and header lines up to the blank line; None at EOF."""
        line = self.rfile.readline(_LINE_MAX)
        while line in (b"\r\n", b"\n"):  # stray blank lines between messages
            line = self.rfile.readline(_LINE_MAX)
        if not line:
            return None
        lines = [line]
        while True:
            line = self.rfile.readline(_LINE_MAX)
            if line in (b"\r\n", b"\n", b""):
                return lines
            lines.append(line)

    def body(self, headers: dict[str, str]) -> bytes | None:
        """The body its headers (by lower-case name) frame; None: delimited by the close."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self.chunked()
        if "content-length" not in headers:
            return None
        n = int(headers["content-length"] or 0)
        return self.rfile.read(n) if n else b""

    def chunked(self) -> bytes:
        """A chunked body, decoded."""
        out = bytearray()
        while True:
            size = int(self.rfile.readline(_LINE_MAX).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(_LINE_MAX) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline(_LINE_MAX)

    def reset(self) -> None:
        """Close with a TCP reset, as a dying middlebox would (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.rfile.close()
            self.sock.close()


def _closed(sock: socket.socket) -> bool:
    """Whether the other end closed a kept-alive connection (moto does so after
    answers that do not say so)."""
    # select, not MSG_DONTWAIT: a socket with a timeout waits in Python before recv
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _fields(header_lines: list[bytes]) -> list[tuple[str, str]]:
    out = []
    for line in header_lines:
        name, _, value = line.decode("latin-1").partition(":")
        out.append((name.strip(), value.strip()))
    return out


def _message(
    start: str, headers: list[tuple[str, str]], body: bytes, drop: frozenset[str], framed: bool
) -> bytes:
    """A message without the ``drop`` headers (lower-case); ``framed``: its body
    goes with a Content-Length (else there is none, and the headers stay as sent)."""
    lines = [start, *(f"{k}: {v}" for k, v in headers if k.lower() not in drop)]
    if framed:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class LoopbackProxy:
    """Forwards HTTP/1.1 requests from 127.0.0.1:<port> to ``upstream_port``,
    records them in ``requests``, and lets ``hook`` (settable at any time)
    decide each one.  ``rtt_ms`` and ``pad_ms`` (settable too) add a round trip
    to every request; 0 forwards at loopback speed."""

    def __init__(
        self,
        upstream_port: int,
        hook: Hook | None = None,
        *,
        rtt_ms: float = 0.0,
        pad_ms: float = 0.0,
    ) -> None:
        self.upstream_port = upstream_port
        self.hook = hook
        self.rtt_ms = rtt_ms
        self.pad_ms = pad_ms
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._peers: set[_Peer] = set()
        self._stopped = False
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = int(self._listener.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            peers = list(self._peers)
        for peer in peers:  # unblock the connection threads
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)

    # ----- what it saw -----

    def recorded(self) -> list[Request]:
        """Every request so far, answered or not, in the order they arrived."""
        with self._lock:
            return list(self.requests)

    def count_where(self, predicate: Callable[[Request], bool]) -> int:
        return sum(1 for r in self.recorded() if predicate(r))

    def events(
        self, bucket: str | None = None, since: float = 0.0, until: float | None = None
    ) -> list[Request]:
        """The requests the endpoint answered and the client heard of, of
        ``bucket``, whose round trip began inside [``since``, ``until``) (monotonic)."""
        end = float("inf") if until is None else until
        return [
            r
            for r in self.recorded()
            if since <= r.began < end
            and (bucket is None or r.bucket == bucket)
            and r.status is not None
            and r.replied is not None
        ]

    def count(
        self, bucket: str | None = None, since: float = 0.0, until: float | None = None
    ) -> int:
        return len(self.events(bucket, since, until))

    def by_op(
        self, bucket: str | None = None, since: float = 0.0, until: float | None = None
    ) -> dict[str, int]:
        return by_op(self.events(bucket, since, until))

    # ----- relaying -----

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(_Peer(sock),), daemon=True).start()

    def _serve(self, client: _Peer) -> None:
        upstream: list[_Peer] = []  # this connection's own upstream connection, once made
        with self._lock:
            self._peers.add(client)
        try:
            while not self._stopped and self._one(client, upstream):
                pass
        except (OSError, ValueError):
            pass  # the client or the upstream went away
        finally:
            with self._lock:
                self._peers.discard(client)
            client.close()
            for u in upstream:
                u.close()

    def _read(self, client: _Peer, lines: list[bytes]) -> tuple[Request, str]:
        """The request whose head is ``lines``, its body read; and its HTTP version."""
        method, target, version = lines[0].decode("latin-1").split()[:3]
        req = Request(method, target, _fields(lines[1:]), b"", t=time.time())
        req.began = time.monotonic()  # the request line is in: the round trip starts here
        if (req.header("Expect") or "").lower() == "100-continue":
            # The client sends its headers and waits for the answer before the
            # body, a round trip of its own (botocore waits 1 s without it).
            req.extra["expect"] = "100-continue"
            _sleep_until(time.monotonic() + (self.rtt_ms or self.pad_ms) / 1000)
            client.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            req.began = time.monotonic()  # the request proper starts with its body
        req.body = client.body({k.lower(): v for k, v in req.headers}) or b""
        return req, version

    def _one(self, client: _Peer, upstream: list[_Peer]) -> bool:
        """Relay one request and its answer; False when the client is done."""
        lines = client.head()
        if lines is None:
            return False
        req, version = self._read(client, lines)
        action = as_action(self.hook(req)) if self.hook else FORWARD
        req.fault = action.fault
        with self._lock:
            self.requests.append(req)
        start = req.began
        if action.delay:
            time.sleep(action.delay)
            start = time.monotonic()  # held, then sent on its round trip
        half = self.rtt_ms / 2000
        _sleep_until(start + half)  # the way there
        answer = b""
        if action.forward:
            request = _message(
                f"{req.method} {req.target} {version}", req.headers, req.body, _REQUEST_DROP, True
            )
            u = time.monotonic()
            answer = self._upstream(req, request, upstream)
            req.upstream_ms = (time.monotonic() - u) * 1000
        if action.reset:
            client.reset()
            return False  # whatever the endpoint did, the client never hears of it
        if action.answer is not None:
            status, body = action.answer
            reason = http.client.responses.get(status, "")
            headers = [("Content-Type", "application/xml")]
            answer = _message(
                f"HTTP/1.1 {status} {reason}",
                headers,
                b"" if req.method == "HEAD" else body,  # a HEAD answer has no body
                _HOP,
                True,
            )
        if self.pad_ms > 0:  # the whole request takes pad_ms, the server's time in it
            _sleep_until(start + self.pad_ms / 1000)
        _sleep_until(start + 2 * half + req.upstream_ms / 1000)  # the way back
        req.replied = time.monotonic()
        client.sock.sendall(answer)
        return (req.header("Connection") or "").lower() != "close"

    def _upstream(self, req: Request, request: bytes, conns: list[_Peer]) -> bytes:
        """The upstream server's answer to ``request``, as the client gets it;
        notes its status, ETag and time in ``req``."""
        for attempt in range(2):
            if not conns or attempt or _closed(conns[0].sock):
                for c in conns:
                    c.close()
                conns[:] = [_Peer(socket.create_connection(("127.0.0.1", self.upstream_port), 60))]
            up = conns[0]
            try:
                up.sock.sendall(request)
                lines = up.head()
                if lines is None:
                    raise ConnectionError("upstream closed the connection")
            except OSError:
                if attempt:
                    raise
                continue  # a kept-alive connection the server had closed: once more
            start = lines[0].decode("latin-1").rstrip("\r\n")
            status = int(start.split()[1])
            headers = _fields(lines[1:])
            fields = {k.lower(): v for k, v in headers}
            closing = fields.get("connection", "").lower() == "close"
            if req.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                # no body, whatever the length says (a HEAD's tells the object's size)
                answer = _message(start, headers, b"", _HOP - {"content-length"}, False)
            else:
                body = up.body(fields)
                if body is None:  # delimited by the close
                    body, closing = up.rfile.read(), True
                answer = _message(start, headers, body, _HOP, True)
            if closing:
                conns.pop().close()  # the next request opens a fresh one
            req.status, req.etag, req.t_done = status, fields.get("etag"), time.time()
            return answer
        raise AssertionError("unreachable")

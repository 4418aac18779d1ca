"""A small HTTP proxy on 127.0.0.1 that sits between a client and an endpoint.

Tests use it to see exactly what the client sends (count list requests), and
to make the network misbehave in controlled ways: answer with an S3 error
without forwarding, reset the connection, drop or replace the answer to a
request after the endpoint has acted on it, delay a request, or forward it with
some headers removed (an endpoint that ignores conditions).

A hook decides per request.  ``FaultInjector`` is the general one: at a given
rate, chosen with a seeded RNG, one of ``FAULT_KINDS``; it counts what it
injected.  Every request is recorded with what happened to it (the fault, the
endpoint's status when it was forwarded, the ETag it answered), so a test can
tell which writes the endpoint applied even when the client never heard.

Each request is forwarded on a fresh upstream connection; responses are relayed
with a Content-Length.
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


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
    def access_key(self) -> str | None:
        """The SigV4 access key id: tells apart clients given distinct keys."""
        m = _CREDENTIAL.search(self.header("Authorization") or "")
        return m.group(1) if m else None

    @property
    def applied(self) -> bool:
        """The endpoint accepted it (2xx), whether or not the client heard."""
        return self.status is not None and 200 <= self.status < 300


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


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


#: what S3 answers a client that writes too fast (R2 and GCS: about once a second per key)
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


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


class LoopbackProxy:
    def __init__(self, upstream_port: int, hook: Hook | None = None) -> None:
        self.upstream_port = upstream_port
        self.hook = hook
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self.sock.close()

    def count(self, predicate: Callable[[Request], bool]) -> int:
        with self.lock:
            return sum(1 for r in self.requests if predicate(r))

    def recorded(self) -> list[Request]:
        with self.lock:
            return list(self.requests)

    # ----- plumbing -----

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(rfile, conn: socket.socket) -> Request | None:  # type: ignore[no-untyped-def]
        line = rfile.readline(65537)
        if not line:
            return None
        method, target, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            h = rfile.readline(65537).decode("latin-1").rstrip("\r\n")
            if not h:
                break
            k, _, v = h.partition(":")
            headers.append((k.strip(), v.strip()))
        req = Request(method, target, headers, b"", t=time.time())
        if (req.header("Expect") or "").lower() == "100-continue":
            # botocore sends a PUT's body only after this, or after waiting 1 s
            req.extra["expect"] = "100-continue"
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            req.drop_header("Expect")
        if (req.header("Transfer-Encoding") or "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    rfile.readline()
                    break
                body += rfile.read(size)
                rfile.readline()
            req.body = bytes(body)
            req.drop_header("Transfer-Encoding")
            req.headers.append(("Content-Length", str(len(req.body))))
        else:
            req.body = rfile.read(int(req.header("Content-Length") or 0))
        return req

    def _forward(self, req: Request) -> tuple[int, str, list[tuple[str, str]], bytes]:
        up = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            up.putrequest(req.method, req.target, skip_host=True, skip_accept_encoding=True)
            for k, v in req.headers:
                up.putheader(k, v)
            up.endheaders(req.body or None)
            resp = up.getresponse()
            data = resp.read()
            headers = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")
            ]
            length = resp.getheader("Content-Length")
            if req.method == "HEAD":
                headers.append(("Content-Length", length or "0"))
            else:
                headers.append(("Content-Length", str(len(data))))
            req.status, req.etag, req.t_done = resp.status, resp.getheader("ETag"), time.time()
            return resp.status, resp.reason, headers, data
        finally:
            up.close()

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        # SO_LINGER 0: close() sends a TCP reset, as a dying middlebox would
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        try:
            while True:
                req = self._read_request(rfile, conn)
                if req is None:
                    return
                action = as_action(self.hook(req) if self.hook else FORWARD)
                req.fault = action.fault
                with self.lock:
                    self.requests.append(req)
                if action.delay:
                    time.sleep(action.delay)
                if action.forward:
                    status, reason, headers, data = self._forward(req)
                if action.reset:
                    self._reset(conn)
                    return  # whatever the endpoint did, the client never hears of it
                if action.answer is not None:
                    status, data = action.answer
                    reason = http.client.responses.get(status, "")
                    headers = [("Content-Type", "application/xml")]
                    headers.append(("Content-Length", str(len(data))))
                    if req.method == "HEAD":  # a HEAD answer has no body
                        headers[-1] = ("Content-Length", "0")
                        data = b""
                out = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
                body = b"" if req.method == "HEAD" else data
                conn.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
        except (OSError, ValueError):
            return
        finally:
            rfile.close()
            conn.close()

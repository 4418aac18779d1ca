"""A loopback HTTP proxy in front of the S3 endpoint that counts every request.

Request counts in the results are counted here, at the endpoint, not estimated
from code.  Each request is logged as ``(time, bucket, op, status)``; a
measurement asks for the events of one bucket inside a time window, so several
measurements on different buckets can share one proxy.

Only path-style addressing is understood (``/bucket/key``), which is what every
client in the benchmark uses against a custom endpoint.

RTT mode (``rtt_ms``, default 20 ms when on) adds a fixed round trip to every
request, half before it is forwarded and half after the answer, as the way
there and back of a real bucket: on loopback a request costs about 5 ms, which
hides requests sent one after the other.  Requests on different connections
wait in parallel, so concurrent requests cost one round trip, not one each.
A request that asks for ``100 Continue`` before sending its body waits one
round trip more for it, as it would on a real bucket.  Each event also carries
the upstream server's own time for the request (``upstream_ms``, moto's on
loopback), so a command's time can be split into the added round trips, the
server's service time, and the rest (bash, the kernel, the daemon).  The round
trip counts from the moment the request line arrives, and the proxy's own work
(parsing, relaying) is done inside it: a network's latency does not grow with a
relay's CPU time, and a proxy that added its ~1 ms per request on top would
charge every command for the instrument.
Standalone: ``python -m bench.proxy UPSTREAM_PORT [--rtt [MS]]``.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

#: the round trip RTT mode adds when no figure is given (in-region S3)
DEFAULT_RTT_MS = 20.0

# Headers of the hop, not the payload: the relay frames every body with a
# Content-Length again, upstream never sees an Expect the proxy answered, and
# each side's connection lives on its own (moto closes its connection after
# every answer; the client's to the proxy stays open, as to a real endpoint).
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_REQUEST_DROP = _HOP | {"expect"}
_ANSWER_DROP = _HOP
_LINE_MAX = 65536


def _sleep_until(deadline: float) -> None:
    wait = deadline - time.monotonic()
    if wait > 0:
        time.sleep(wait)


@dataclass(frozen=True)
class Event:
    t: float  # time.monotonic() when the request arrived
    bucket: str
    op: str
    status: int
    key: str = ""  # the object key (or bucket-level path), for debugging
    upstream_ms: float = 0.0  # the server's time (moto's, on loopback), without the delay


def classify(method: str, path: str, headers: dict[str, str]) -> tuple[str, str]:
    """(bucket, S3 operation name) of one path-style request."""
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


def _fields(lines: list[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        out[name.strip().lower()] = value.strip()
    return out


def _message(
    start: bytes, lines: list[bytes], body: bytes, drop: frozenset[str], *, framed: bool = True
) -> bytes:
    """A message with ``drop`` headers (lower-case) removed; ``framed``: its body
    goes with a Content-Length (else there is none, and the headers stay as sent)."""
    keep = [
        ln for ln in lines if ln.split(b":", 1)[0].strip().lower().decode("latin-1") not in drop
    ]
    length = b"Content-Length: %d\r\n" % len(body) if framed else b""
    return start + b"".join(keep) + length + b"\r\n" + body


class CountingProxy:
    """Forwards HTTP/1.1 requests from 127.0.0.1:<port> to ``upstream`` and counts them.

    ``rtt_ms`` (settable at any time through ``rtt_ms``) is the round trip added
    to every request; 0 forwards at loopback speed.  ``pad_ms`` instead makes
    every request take that long in all, the server's own time included, the
    way a cloud round trip includes the service's time.

    A relay of raw bytes: a request is parsed only as far as framing and
    counting need (start line, headers, length), so the proxy's own time per
    request stays a small fraction of a millisecond.
    """

    def __init__(self, upstream_port: int, rtt_ms: float = 0.0, pad_ms: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.rtt_ms = rtt_ms
        self.pad_ms = pad_ms
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._peers: set[_Peer] = set()
        self._stopped = False
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = int(self._listener.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

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

    def _one(self, client: _Peer, upstream: list[_Peer]) -> bool:
        """Relay one request and its answer; False when the client is done."""
        lines = client.head()
        if lines is None:
            return False
        t = time.monotonic()  # the request line is in: the round trip starts here
        method, target = lines[0].decode("latin-1").split()[:2]
        fields = _fields(lines)
        if fields.get("expect", "").lower() == "100-continue":
            # The client sends its headers and waits for the answer before the
            # body, a round trip of its own.
            _sleep_until(time.monotonic() + (self.rtt_ms or self.pad_ms) / 1000)
            client.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            t = time.monotonic()  # the request proper starts with its body
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = client.chunked()
        else:
            n = int(fields.get("content-length") or 0)
            body = client.rfile.read(n) if n else b""
        bucket, op = classify(method, target, fields)
        request = _message(lines[0], lines[1:], body, _REQUEST_DROP)
        half = self.rtt_ms / 2000
        _sleep_until(t + half)  # the way there
        u = time.monotonic()
        status, answer = self._upstream(request, method, upstream)
        upstream_s = time.monotonic() - u
        if self.pad_ms > 0:  # the whole request takes pad_ms, the server's time in it
            _sleep_until(t + self.pad_ms / 1000)
        _sleep_until(t + 2 * half + upstream_s)  # the way back
        key = urlsplit(target).path.lstrip("/").partition("/")[2]
        self._record(Event(t, bucket, op, status, key, upstream_s * 1000))
        client.sock.sendall(answer)
        return fields.get("connection", "").lower() != "close"

    # ----- forwarding -----

    def _upstream(self, request: bytes, method: str, conns: list[_Peer]) -> tuple[int, bytes]:
        """(status, the answer as the client gets it) from the upstream server."""
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
            status = int(lines[0].split()[1])
            fields = _fields(lines)
            closing = fields.get("connection", "").lower() == "close"
            if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                # no body, whatever the length says (a HEAD's tells the object's size)
                answer = _message(
                    lines[0], lines[1:], b"", _ANSWER_DROP - {"content-length"}, framed=False
                )
            else:
                if fields.get("transfer-encoding", "").lower() == "chunked":
                    body = up.chunked()
                elif "content-length" in fields:
                    n = int(fields["content-length"])
                    body = up.rfile.read(n) if n else b""
                else:  # delimited by the close
                    body = up.rfile.read()
                    closing = True
                answer = _message(lines[0], lines[1:], body, _ANSWER_DROP)
            if closing:
                conns.pop().close()  # the next request opens a fresh one
            return status, answer
        raise AssertionError("unreachable")

    # ----- counting -----

    def _record(self, ev: Event) -> None:
        with self._lock:
            self._events.append(ev)

    def events(
        self, bucket: str | None = None, since: float = 0.0, until: float | None = None
    ) -> list[Event]:
        end = float("inf") if until is None else until
        with self._lock:
            evs = list(self._events)
        return [e for e in evs if (bucket is None or e.bucket == bucket) and since <= e.t < end]

    def count(
        self, bucket: str | None = None, since: float = 0.0, until: float | None = None
    ) -> int:
        return len(self.events(bucket, since, until))

    def by_op(
        self, bucket: str | None = None, since: float = 0.0, until: float | None = None
    ) -> dict[str, int]:
        c = Counter(
            e.op if e.status < 300 else f"{e.op}:{e.status}"
            for e in self.events(bucket, since, until)
        )
        return dict(sorted(c.items()))

    def stop(self) -> None:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__)
    ap.add_argument("upstream_port", type=int, help="the S3 endpoint's port on 127.0.0.1")
    ap.add_argument(
        "--rtt",
        type=float,
        nargs="?",
        const=DEFAULT_RTT_MS,
        default=0.0,
        metavar="MS",
        help=f"add a round trip to every request ({DEFAULT_RTT_MS:g} ms when no figure is given)",
    )
    args = ap.parse_args(argv)
    proxy = CountingProxy(args.upstream_port, rtt_ms=args.rtt)
    print(f"{proxy.endpoint} -> 127.0.0.1:{args.upstream_port}, +{args.rtt:g} ms per request")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        print(f"{proxy.count()} requests: {proxy.by_op()}")
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
server's service time, and the rest (bash, the kernel, the daemon).
Standalone: ``python -m bench.proxy UPSTREAM_PORT [--rtt [MS]]``.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

#: the round trip RTT mode adds when no figure is given (in-region S3)
DEFAULT_RTT_MS = 20.0

# Response headers that describe the hop, not the payload.
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


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


class CountingProxy:
    """Forwards HTTP/1.1 requests from 127.0.0.1:<port> to ``upstream`` and counts them.

    ``rtt_ms`` (settable at any time through ``rtt_ms``) is the round trip added
    to every request; 0 forwards at loopback speed.  ``pad_ms`` instead makes
    every request take that long in all, the server's own time included, the
    way a cloud round trip includes the service's time.
    """

    def __init__(self, upstream_port: int, rtt_ms: float = 0.0, pad_ms: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.rtt_ms = rtt_ms
        self.pad_ms = pad_ms
        self._events: list[Event] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without NODELAY,
                # Nagle plus delayed ACK adds ~40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def handle_expect_100(self) -> bool:
                # "Expect: 100-continue": the client sends its headers and waits
                # for the answer before the body, a round trip of its own.
                wait = proxy.rtt_ms or proxy.pad_ms
                if wait > 0:
                    time.sleep(wait / 1000)
                return bool(super().handle_expect_100())

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _forward(self) -> None:
                t = time.monotonic()
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                lower = {k.lower(): v for k, v in headers.items()}
                bucket, op = classify(self.command, self.path, lower)
                half = proxy.rtt_ms / 2000
                if half > 0:
                    time.sleep(half)  # the way there
                u = time.monotonic()
                status, rheaders, rbody = proxy._upstream(self.command, self.path, body, headers)
                upstream_ms = (time.monotonic() - u) * 1000
                if proxy.pad_ms > 0:  # the whole request takes pad_ms, the server's time in it
                    time.sleep(max(0.0, proxy.pad_ms / 1000 - (time.monotonic() - t)))
                if half > 0:
                    time.sleep(half)  # the way back
                key = urlsplit(self.path).path.lstrip("/").partition("/")[2]
                proxy._record(Event(t, bucket, op, status, key, upstream_ms))
                self.send_response_only(status)
                for k, v in rheaders:
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                if self.command == "HEAD":
                    length = dict((k.lower(), v) for k, v in rheaders).get("content-length", "0")
                    self.send_header("Content-Length", length)
                else:
                    self.send_header("Content-Length", str(len(rbody)))
                self.end_headers()
                if self.command != "HEAD" and rbody:
                    self.wfile.write(rbody)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._local = threading.local()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # ----- forwarding -----

    def _conn(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def _upstream(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        for attempt in range(2):
            conn = self._conn(fresh=attempt > 0)
            try:
                conn.request(method, path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.getheaders(), data
            except (ConnectionError, http.client.HTTPException, OSError):
                if attempt:
                    raise
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
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


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

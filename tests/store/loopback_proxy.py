"""A small HTTP proxy on 127.0.0.1 that sits between a client and an endpoint.

Tests use it to see exactly what the client sends (count list requests), and
to make the network misbehave in controlled ways: drop the answer to a request
after the endpoint has acted on it, or forward a request with some headers
removed (an endpoint that ignores conditions).  Each request is forwarded on a
fresh upstream connection; responses are relayed with a Content-Length.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    extra: dict[str, object] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def drop_header(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]


#: a hook sees each request (and may edit it) and returns "forward", "drop"
#: (forward it, then close the client's connection without an answer), or
#: ``(status, body)``: answer it here without forwarding (e.g. a 503 SlowDown)
Hook = Callable[[Request], "str | tuple[int, bytes]"]


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


class LoopbackProxy:
    def __init__(self, upstream_port: int, hook: Hook | None = None) -> None:
        self.upstream_port = upstream_port
        self.hook = hook
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
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

    # ----- plumbing -----

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(rfile) -> Request | None:  # type: ignore[no-untyped-def]
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
        req = Request(method, target, headers, b"")
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
            return resp.status, resp.reason, headers, data
        finally:
            up.close()

    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        try:
            while True:
                req = self._read_request(rfile)
                if req is None:
                    return
                action = self.hook(req) if self.hook else "forward"
                with self.lock:
                    self.requests.append(req)
                if isinstance(action, tuple):
                    status, data = action
                    reason = http.client.responses.get(status, "")
                    headers = [
                        ("Content-Type", "application/xml"),
                        ("Content-Length", str(len(data))),
                    ]
                else:
                    status, reason, headers, data = self._forward(req)
                if action == "drop":
                    return  # the endpoint acted; the client never hears of it
                out = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
                conn.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
        except (OSError, ValueError):
            return
        finally:
            rfile.close()
            conn.close()

"""The short path's HTTP/1.1 client against a scripted server on 127.0.0.1:
the framings S3 servers and gateways answer with, kept-alive reuse, and what
it does with a connection that broke or an answer it cannot read."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from tcfs.store.http1 import BadAnswer, ConnectFailed, Pool
from tests.store.listener import serve_in_threads
from tests.support.s3server import free_port

#: one scripted answer: raw bytes to send once the request has arrived, or a
#: function of the connection (for answers that close it)
Script = list[bytes | Callable[[socket.socket], None]]


class Server:
    """Answers each request in turn from ``script``; records what it received."""

    def __init__(self, script: Script) -> None:
        self.script = list(script)
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        serve_in_threads(self.sock, self._serve)

    def _serve(self, conn: socket.socket) -> None:
        self.connections += 1
        buf = b""
        with conn:
            while self.script:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buf[:length])
                buf = buf[length:]
                step = self.script.pop(0)
                if callable(step):
                    step(conn)
                    return
                conn.sendall(step)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], tuple[Server, Pool]]]:
    made: list[tuple[Server, Pool]] = []

    def make(script: Script) -> tuple[Server, Pool]:
        server = Server(script)
        pool = Pool("127.0.0.1", server.port, connect=5.0, read=5.0, tls=None)
        made.append((server, pool))
        return server, pool

    yield make
    for server, pool in made:
        pool.close()
        server.close()


OK = b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "e1"\r\n\r\nhello'


def _ask(pool: Pool, method: str = "GET", body: bytes | None = None):  # type: ignore[no-untyped-def]
    conn = pool.take()
    try:
        answer = conn.exchange(method, "/b/k", {"Host": "x"}, body)
    except BaseException:
        conn.close()
        raise
    pool.give(conn)
    return answer


def test_answers_on_one_kept_alive_connection(serve) -> None:  # type: ignore[no-untyped-def]
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Amz-Id: a\r\nx-amz-id: b\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
    )
    interim = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 3\r\n\r\nno!"
    )
    head = b"HTTP/1.1 404 Not Found\r\nContent-Length: 120\r\n\r\n"  # a HEAD: no body follows
    server, pool = serve([OK, chunked, interim, head, b"HTTP/1.1 304 Not Modified\r\n\r\n", OK])
    a = _ask(pool)
    assert (a.status, a.body, a.headers["etag"]) == (200, b"hello", '"e1"')
    b = _ask(pool)
    assert (b.status, b.body, b.headers["x-amz-id"]) == (200, b"abcde", "a, b")
    c = _ask(pool, "PUT", b"{}")
    assert (c.status, c.body) == (412, b"no!")
    assert (_ask(pool, "HEAD").status, _ask(pool).status) == (404, 304)
    assert _ask(pool).body == b"hello"
    assert server.connections == 1
    put = server.requests[2]
    assert put.startswith(b"PUT /b/k HTTP/1.1\r\n") and put.endswith(b"Content-Length: 2\r\n\r\n{}")


def test_a_closing_answer_is_not_reused(serve) -> None:  # type: ignore[no-untyped-def]
    to_end = b"HTTP/1.0 200 OK\r\n\r\nall of it"

    def then_close(conn: socket.socket) -> None:
        conn.sendall(to_end)

    server, pool = serve([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"])
    assert _ask(pool).body == b"x"
    server.script.append(then_close)
    assert _ask(pool).body == b"all of it"  # on a new connection, read to its end
    assert server.connections == 2


def test_a_connection_the_server_closed_while_idle_is_not_used(serve) -> None:  # type: ignore[no-untyped-def]
    def answer_and_close(conn: socket.socket) -> None:
        conn.sendall(OK)  # keep-alive promised, then closed at once

    server, pool = serve([answer_and_close])
    assert _ask(pool).body == b"hello"
    server.script.append(OK)
    for _ in range(100):  # until the close has reached us
        if not pool._idle or not pool._idle[-1].idle_and_open():
            break
        threading.Event().wait(0.01)
    assert _ask(pool).body == b"hello"  # sent on a fresh connection, not the dead one
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["not-http", "bad-length", "bad-header", "bad-chunk"],
)
def test_an_answer_it_cannot_read_is_bad_and_the_connection_dropped(serve, answer: bytes) -> None:  # type: ignore[no-untyped-def]
    _, pool = serve([answer])
    with pytest.raises(BadAnswer):
        _ask(pool)
    assert not pool._idle


def test_a_cut_answer_and_a_refused_connection(serve) -> None:  # type: ignore[no-untyped-def]
    def cut(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")

    _, pool = serve([cut])
    with pytest.raises(ConnectionError) as info:
        _ask(pool)
    assert not isinstance(info.value, BadAnswer)
    refused = Pool("127.0.0.1", free_port(), connect=2.0, read=2.0, tls=None)  # nobody listens
    with pytest.raises(ConnectFailed):
        refused.take()


def test_a_header_with_a_line_break_is_not_sent(serve) -> None:  # type: ignore[no-untyped-def]
    """An ETag from elsewhere with a CRLF in it would add a header of its own."""
    from tcfs.store.http1 import BadRequest

    server, pool = serve([OK])
    conn = pool.take()
    with pytest.raises(BadRequest):
        conn.exchange("PUT", "/b/k", {"If-Match": '"e"\r\nX-Amz-Acl: public-read'}, b"x")
    assert conn.exchange("GET", "/b/k", {"Host": "x"}, None).body == b"hello"  # still usable
    conn.close()
    assert len(server.requests) == 1 and b"X-Amz-Acl" not in server.requests[0]

"""The short path (``tcfs.store.s3_wire``): which requests take it, that they
answer as the client's do, and what happens when the server points elsewhere.

Which path sent a request is read at the endpoint, from its User-Agent: the
short path names itself ``tcfs/… (short path)``, the client ``Boto3/…``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tcfs.errors import NotFound, PreconditionFailed, TcfsError
from tcfs.store.s3 import SEND_AT_ONCE, S3Store
from tests.support.loopback_proxy import LoopbackProxy, Request
from tests.support.s3server import MotoServer, free_port


def _short(r: Request) -> bool:
    return "(short path)" in (r.header("User-Agent") or "")


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[LoopbackProxy]:
    p = LoopbackProxy(moto_server.port)
    yield p
    p.close()


def _store(bucket: str, endpoint: str, **kw: Any) -> S3Store:
    return S3Store(bucket, "proj", endpoint=endpoint, path_style=True, **kw)


def _outcome(fn: Callable[[], Any]) -> Any:
    """What one call gives: its answer, or its error's class and errno."""
    try:
        out = fn()
    except TcfsError as exc:
        return ("error", type(exc).__name__, exc.errno)
    if hasattr(out, "body"):
        return ("blob", out.body, out.size, bool(out.etag))
    if hasattr(out, "etag") and hasattr(out, "size"):
        return ("info", out.size, bool(out.etag))
    return ("value", out if not isinstance(out, str) else bool(out))


def _name(entry: Any) -> str:
    return str(getattr(entry, "key", None) or entry.prefix)


def _script(s: S3Store, k: str) -> list[Any]:
    """Every kind of request the short path takes, each answer and each refusal."""
    e1 = s.put(f"{k}/a.json", b'{"v": 1}', if_none_match=True)
    return [
        _outcome(lambda: s.put(f"{k}/a.json", b'{"v": 2}', if_none_match=True)),  # lost claim
        _outcome(lambda: s.get(f"{k}/a.json")),
        _outcome(lambda: s.get(f"{k}/a.json", byte_range=(2, 3))),
        _outcome(lambda: s.get(f"{k}/a.json", byte_range=(50, 4))),  # past the end
        _outcome(lambda: s.get_if_changed(f"{k}/a.json", e1)),  # 304
        _outcome(lambda: s.get_if_changed(f"{k}/a.json", '"other"')),
        _outcome(lambda: s.head(f"{k}/a.json")),
        _outcome(lambda: s.head(f"{k}/missing.json")),  # 404 without a body
        _outcome(lambda: s.get(f"{k}/missing.json")),  # 404 NoSuchKey
        _outcome(lambda: s.put(f"{k}/a.json", b"x", if_match='"not-it"')),  # 412
        _outcome(lambda: s.put(f"{k}/a.json", b'{"v": 3}', if_match=e1)),
        _outcome(lambda: s.put(f"{k}/b ü %.json", b"odd name")),
        _outcome(lambda: s.get(f"{k}/b ü %.json")),
        _outcome(lambda: s.put(f"{k}/d/e+f.json", b"below")),
        # listings: keys with odd bytes, folded prefixes, a start, a missing prefix
        _outcome(lambda: [(e.key[len(k) :], getattr(e, "size", None)) for e in s.list(f"{k}/")]),
        _outcome(lambda: [_name(e)[len(k) :] for e in s.list(f"{k}/", delimiter="/")]),
        _outcome(lambda: [e.key[len(k) :] for e in s.list(f"{k}/", start_after=f"{k}/a.json")]),
        _outcome(lambda: list(s.list(f"{k}/nothing/"))),
        _outcome(lambda: s.delete(f"{k}/a.json", if_match='"not-it"')),
        _outcome(lambda: s.delete(f"{k}/missing.json")),
        _outcome(lambda: s.exists(f"{k}/b ü %.json")),
        _outcome(lambda: s.delete(f"{k}/b ü %.json")),
        _outcome(lambda: s.exists(f"{k}/b ü %.json")),
    ]


def test_the_short_path_answers_as_the_client_does(
    moto_server: MotoServer, s3_bucket: str, proxy: LoopbackProxy
) -> None:
    short = _store(s3_bucket, proxy.endpoint)
    client = _store(s3_bucket, proxy.endpoint, short_path=False)
    try:
        ours = _script(short, "short")
        sent_short = proxy.recorded()
        theirs = _script(client, "client")
        sent_client = proxy.recorded()[len(sent_short) :]
    finally:
        short.close()
        client.close()
    assert ours == theirs
    assert ("error", "PreconditionFailed", PreconditionFailed.errno) in ours
    assert ("error", "NotFound", NotFound.errno) in ours
    # every request of the first run took the short path, none of the second
    assert sent_short and all(_short(r) for r in sent_short)
    assert sent_client and not any(_short(r) for r in sent_client)
    # a record's PUT carries its body with its headers, on both paths
    assert not any(r.extra.get("expect") for r in sent_short + sent_client)


def test_large_bodies_go_through_the_client(s3_bucket: str, proxy: LoopbackProxy) -> None:
    import io

    s = _store(s3_bucket, proxy.endpoint)
    try:
        s.put("artifacts/shared/small.bin", b"s")
        big = b"x" * (SEND_AT_ONCE + 1)
        s.put("artifacts/shared/big.bin", big)
        keys = [e.key for e in s.list("artifacts/shared/")]
        out = io.BytesIO()
        s.get_file("artifacts/shared/big.bin", out, chunk=SEND_AT_ONCE)
    finally:
        s.close()
    assert keys == ["artifacts/shared/big.bin", "artifacts/shared/small.bin"]
    assert out.getvalue() == big
    by = {(r.method, r.path.rsplit("/", 1)[-1] or r.target): _short(r) for r in proxy.recorded()}
    assert by[("PUT", "small.bin")] is True
    assert by[("PUT", "big.bin")] is False  # over SEND_AT_ONCE: the client, with its Continue
    assert [r.extra.get("expect") for r in proxy.recorded() if r.method == "PUT"] == [
        None,
        "100-continue",
    ]
    lists = [r for r in proxy.recorded() if "list-type=2" in r.target]
    assert lists and all(_short(r) and "encoding-type=url" in r.target for r in lists)
    # ranged reads of an artifact are one-key GETs: the short path
    assert any(r.method == "GET" and r.header("Range") and _short(r) for r in proxy.recorded())


REDIRECT = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code>'
    b"<Message>The bucket you are attempting to access must be addressed using the "
    b"specified endpoint.</Message></Error>"
)


def test_a_redirect_is_not_carried_out_and_the_client_takes_over(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    """A region redirect means the request was not carried out: the same
    request goes again through the client, and the short path stays off."""
    seen: list[Request] = []

    def hook(req: Request) -> str | tuple[int, bytes]:
        seen.append(req)
        if _short(req):
            return (301, REDIRECT)
        return "forward"

    proxy = LoopbackProxy(moto_server.port, hook)
    s = _store(s3_bucket, proxy.endpoint)
    try:
        etag = s.put("steps/s/claim.json", b'{"agent": "a"}', if_none_match=True)
        blob = s.get("steps/s/claim.json")
        with pytest.raises(PreconditionFailed):
            s.put("steps/s/claim.json", b'{"agent": "b"}', if_none_match=True)
    finally:
        s.close()
        proxy.close()
    assert blob.body == b'{"agent": "a"}' and blob.etag == etag
    # one refused short-path PUT, then everything through the client
    assert [_short(r) for r in seen] == [True, False, False, False]
    assert [r.method for r in seen] == ["PUT", "PUT", "GET", "PUT"]


@pytest.mark.parametrize("short_path", [True, False], ids=["short", "client"])
def test_server_errors_and_resets_are_met_alike_on_both_paths(
    moto_server: MotoServer, s3_bucket: str, short_path: bool
) -> None:
    """A 503 SlowDown and a reset connection are retried by the one policy; a
    gateway's HTML page for a 400 is an error naming its status.  Both paths
    give the same errors, word for word."""
    from tcfs.errors import StoreError
    from tcfs.store.base import RetryPolicy
    from tests.support.loopback_proxy import SLOW_DOWN

    answers: list[str | tuple[int, bytes]] = []

    def hook(req: Request) -> str | tuple[int, bytes]:
        return answers.pop(0) if answers else "forward"

    proxy = LoopbackProxy(moto_server.port, hook)
    s = _store(
        s3_bucket,
        proxy.endpoint,
        retry=RetryPolicy(attempts=3, base_delay=0.01, deadline=10),
        short_path=short_path,
    )
    try:
        answers += [(503, SLOW_DOWN), "drop"]
        s.put("memory/a/k.json", b'{"value": "v"}')
        answers.append((400, b"<html><body>Bad Request</body></html>"))
        with pytest.raises(StoreError) as info:
            s.get("memory/a/k.json")
        body = s.get("memory/a/k.json").body
    finally:
        s.close()
        proxy.close()
    assert body == b'{"value": "v"}'
    where = f"s3://{s3_bucket}/proj/memory/a/k.json"
    assert str(info.value) == f"S3 get_object on {where} failed: error (HTTP 400)"
    sent = proxy.recorded()
    assert [r.method for r in sent] == ["PUT", "PUT", "PUT", "GET", "GET"]
    assert all(_short(r) == short_path for r in sent)


SIGNED = [
    ("GET", "http://127.0.0.1:9000/bkt/proj/memory/a/k.json", {"Range": "bytes=0-9"}, None),
    ("HEAD", "https://s3.eu-west-1.amazonaws.com/bkt/proj/x.json", {}, None),
    ("PUT", "http://127.0.0.1:9000/bkt/proj/steps/s/claim.json", {"If-None-Match": "*"}, b"{}"),
    ("PUT", "https://bkt.s3.eu-west-1.amazonaws.com/proj/b%20%C3%BC%20%25.json", {}, b"odd"),
    ("DELETE", "http://[::1]:9000/bkt/proj/a.json", {"If-Match": '"abc"'}, None),
    (
        "GET",
        "http://127.0.0.1:9000/bkt/?delimiter=%2F&encoding-type=url&list-type=2"
        "&max-keys=1000&prefix=proj%2Fmemory%2F&start-after=proj%2Fa%2Bb",
        {},
        None,
    ),
]


@pytest.mark.parametrize("token", [None, "session-token"], ids=["keys", "session"])
@pytest.mark.parametrize(
    "method,url,headers,body", SIGNED, ids=[f"{m} {u[:40]}" for m, u, _, _ in SIGNED]
)
def test_the_signature_is_the_one_botocore_computes(
    token: str | None, method: str, url: str, headers: dict[str, str], body: bytes | None
) -> None:
    """Same request, same instant: the same Authorization header, byte for byte."""
    from urllib.parse import urlsplit

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from tcfs.store.sigv4 import Signer, host_header

    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    sent = {**headers, "User-Agent": "tcfs-test"}
    theirs = AWSRequest(method, url, headers=dict(sent), data=body)
    S3SigV4Auth(creds.get_frozen_credentials(), "s3", "eu-west-1").add_auth(theirs)
    parts = urlsplit(url)
    signer = Signer("eu-west-1")
    for _ in range(2):  # the second with the day's key kept
        ours = signer.sign(
            method,
            host_header(parts),
            parts.path,
            parts.query,
            sent,
            body,
            creds.get_frozen_credentials(),
            amz_date=theirs.headers["X-Amz-Date"],
        )
        assert ours["Authorization"] == theirs.headers["Authorization"]
        assert ours["X-Amz-Content-SHA256"] == theirs.headers["X-Amz-Content-SHA256"]
        assert ours.get("X-Amz-Security-Token") == token


@pytest.mark.parametrize("short_path", [True, False], ids=["short", "client"])
def test_a_password_in_the_endpoint_url_reaches_no_request_and_no_error(
    s3_bucket: str, proxy: LoopbackProxy, short_path: bool
) -> None:
    """``http://user:secret@host:port``: the requests go to host:port without
    it, and an error naming the endpoint does not show it either."""
    from tcfs.errors import BackendUnavailable

    host_port = proxy.endpoint.removeprefix("http://")
    s = _store(s3_bucket, f"http://someone:hunter2@{host_port}", short_path=short_path)
    try:
        s.put("memory/a/k.json", b'{"value": "v"}')
        assert s.get("memory/a/k.json").body == b'{"value": "v"}'
    finally:
        s.close()
    sent = proxy.recorded()
    assert sent and all(_short(r) == short_path for r in sent)
    assert not any("hunter2" in r.target or "hunter2" in str(r.headers) for r in sent)

    port = free_port()  # nobody listens on it
    from tcfs.store.base import RetryPolicy

    dead = _store(
        s3_bucket,
        f"http://someone:hunter2@127.0.0.1:{port}",
        retry=RetryPolicy(attempts=1, deadline=5),
        short_path=short_path,
    )
    try:
        with pytest.raises(BackendUnavailable) as info:
            dead.get("memory/a/k.json")
    finally:
        dead.close()
    assert "hunter2" not in str(info.value) and f"127.0.0.1:{port}" in str(info.value)

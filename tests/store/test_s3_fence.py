"""The short path's fence: it runs only where it sends exactly what botocore's
client sends (the same URL, a tested botocore), over TLS as the client's
certificate settings say, and reads no answer without bound.

Endpoint options are set as users set them (environment variables, an AWS
config file); botocore's own resolution decides the URL the client would use,
so nothing here goes to a real AWS host.  Which path sent a request is read at
a loopback proxy, from its User-Agent.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcfs.errors import StoreError
from tcfs.store.base import RetryPolicy
from tcfs.store.s3 import S3Store
from tcfs.store.s3_wire import LISTING_MAX, Wire
from tests.store.listener import serve_in_threads
from tests.store.tls_proxy import Certs, TlsProxy, make_certs
from tests.support.loopback_proxy import LoopbackProxy, Request
from tests.support.s3server import MotoServer

ONE_TRY = RetryPolicy(attempts=1, deadline=10)


def _short(r: Request) -> bool:
    return "(short path)" in (r.header("User-Agent") or "")


def _declined(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "no short path" in r.getMessage()]


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[LoopbackProxy]:
    p = LoopbackProxy(moto_server.port)
    yield p
    p.close()


def _paths_taken(s: S3Store, proxy: LoopbackProxy) -> set[str]:
    """A write, a read and a listing through ``s`` (closed after): which paths
    the requests that reached the proxy took."""
    try:
        s.put("memory/a/k.json", b'{"value": "v"}')
        assert s.get("memory/a/k.json").body == b'{"value": "v"}'
        assert [e.key for e in s.list("memory/a/")] == ["memory/a/k.json"]
    finally:
        s.close()
    return {"short" if _short(r) else "client" for r in proxy.recorded()}


# ----- URL parity -----


@pytest.mark.parametrize(
    "option,setting,short",
    [
        ("none", {}, True),
        ("fips", {"AWS_USE_FIPS_ENDPOINT": "true"}, False),
        ("accelerate", {"config": "s3 =\n    use_accelerate_endpoint = true\n"}, False),
        # the client's own endpoint is the dualstack one: the same URL, so it may stay
        ("dualstack", {"AWS_USE_DUALSTACK_ENDPOINT": "true"}, True),
    ],
)
def test_endpoint_options_it_does_not_mirror_send_everything_through_the_client(
    option: str,
    setting: dict[str, str],
    short: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On AWS itself (no endpoint URL): FIPS and accelerated endpoints are
    hosts the short path does not compute, so it is off, said once."""
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\n" + setting.pop("config", ""))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.INFO, logger="tcfs.store.s3_wire")
    s = S3Store("tcfs-fence-test", "proj", region="us-east-1")
    try:
        assert (s._wire is not None) == short
    finally:
        s.close()
    said = _declined(caplog)
    if short:
        assert not said
    else:
        assert len(said) == 1
        assert {"fips": "s3-fips.", "accelerate": "s3-accelerate."}[option] in said[0]


@pytest.mark.parametrize(
    "case,path_style,botocore_version,said",
    [
        # virtual-hosted addressing asked for an IP endpoint: botocore falls
        # back to path-style, which the short path does not
        ("wrong url", False, None, "sends get_object to http://127.0.0.1:"),
        ("untested botocore", True, "1.99.0", "botocore 1.99.0"),
    ],
)
def test_where_it_cannot_match_the_client_the_client_sends_every_request(
    s3_bucket: str,
    proxy: LoopbackProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    case: str,
    path_style: bool,
    botocore_version: str | None,
    said: str,
) -> None:
    import botocore

    if botocore_version:
        monkeypatch.setattr(botocore, "__version__", botocore_version)
    caplog.set_level(logging.INFO, logger="tcfs.store.s3_wire")
    s = S3Store(s3_bucket, "proj", endpoint=proxy.endpoint, path_style=path_style, retry=ONE_TRY)
    assert _paths_taken(s, proxy) == {"client"}
    assert [said in m for m in _declined(caplog)] == [True]


# ----- TLS -----


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls(proxy: LoopbackProxy, certs: Certs) -> Iterator[TlsProxy]:
    """HTTPS on loopback, in front of the recording proxy in front of moto."""
    with TlsProxy(proxy.port, certs) as front:
        yield front


@pytest.mark.parametrize("short_path", [True, False], ids=["short", "client"])
def test_tls_with_the_ca_bundle_of_aws_ca_bundle(
    s3_bucket: str,
    proxy: LoopbackProxy,
    tls: TlsProxy,
    certs: Certs,
    short_path: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certs.ca))
    s = S3Store(s3_bucket, "proj", endpoint=tls.endpoint, short_path=short_path, retry=ONE_TRY)
    assert _paths_taken(s, proxy) == {"short" if short_path else "client"}


@pytest.mark.parametrize("short_path", [True, False], ids=["short", "client"])
def test_tls_without_the_ca_fails_at_once_with_the_certificate_error(
    s3_bucket: str,
    proxy: LoopbackProxy,
    tls: TlsProxy,
    short_path: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not retried (a certificate does not heal), nothing sent, and it says why."""
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    s = S3Store(
        s3_bucket,
        "proj",
        endpoint=tls.endpoint,
        short_path=short_path,
        retry=RetryPolicy(attempts=4, deadline=30),
    )
    start = time.monotonic()
    try:
        with pytest.raises(StoreError) as info:
            s.put("memory/a/k.json", b"{}")
    finally:
        s.close()
    assert time.monotonic() - start < 5
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert "AWS_CA_BUNDLE" in str(info.value)
    give_up = time.monotonic() + 5  # the proxy's side of the handshake ends on its own thread
    while tls.refused < 1 and time.monotonic() < give_up:
        time.sleep(0.01)
    assert tls.refused == 1 and not proxy.recorded()


@pytest.mark.parametrize("verify", ["off", "ca-path"])
def test_the_short_path_takes_the_clients_verify_setting(
    s3_bucket: str,
    proxy: LoopbackProxy,
    tls: TlsProxy,
    certs: Certs,
    verify: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client made with ``verify=False`` or ``verify=<bundle>``: the short
    path trusts what it trusts (the store itself makes neither)."""
    import boto3
    from botocore.config import Config

    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    session = boto3.session.Session(region_name="us-east-1")
    client = session.client(
        "s3",
        endpoint_url=tls.endpoint,
        verify=False if verify == "off" else str(certs.ca),
        config=Config(s3={"addressing_style": "path"}),
    )
    wire = Wire.for_client(
        client,
        session,
        bucket=s3_bucket,
        path_style=True,
        max_body=1 << 20,
        connect_timeout=5,
        read_timeout=10,
    )
    assert wire is not None
    try:
        args = {"Bucket": s3_bucket, "Key": "proj/tls/k.json"}
        assert wire.send("put_object", {**args, "Body": b"over TLS"})["ETag"]
        assert wire.send("get_object", args)["Body"] == b"over TLS"
    finally:
        wire.close()
        client.close()
    sent = proxy.recorded()
    assert len(sent) == 2 and all(_short(r) for r in sent)


# ----- bounded answers -----


class EndlessAnswers:
    """Answers every request 200 with a body that does not end: announced as a
    terabyte, chunked forever, or streamed until the connection closes."""

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.sent = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        serve_in_threads(self.sock, self._serve)

    def close(self) -> None:
        self.sock.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(20)
        head = {
            "length": b"Content-Length: 1099511627776\r\n",
            "chunked": b"Transfer-Encoding: chunked\r\n",
            "close": b"Connection: close\r\n",
        }[self.framing]
        block = b"<" * (1 << 20)
        if self.framing == "chunked":
            block = b"%x\r\n%s\r\n" % (len(block), block)
        with conn:
            try:
                while not conn.recv(65536).endswith(b"\r\n\r\n"):
                    pass
                conn.sendall(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n")
                while True:
                    conn.sendall(block)
                    with self._lock:
                        self.sent += len(block)
            except OSError:
                return  # the client hung up: what it asked of this test


@pytest.fixture(params=["length", "chunked", "close"])
def endless(request: pytest.FixtureRequest) -> Iterator[EndlessAnswers]:
    server = EndlessAnswers(request.param)
    yield server
    server.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["listing", "ranged read"])
def test_an_answer_larger_than_its_kind_is_a_clear_error_not_unbounded_memory(
    endless: EndlessAnswers, kind: str
) -> None:
    s = S3Store("bucket", "proj", endpoint=endless.endpoint, path_style=True, retry=ONE_TRY)
    assert s._wire is not None
    limit = LISTING_MAX if kind == "listing" else 1 << 20
    try:
        with pytest.raises(StoreError) as info:
            if kind == "listing":
                list(s.list("memory/"))
            else:
                s.get("artifacts/big.bin", byte_range=(0, limit))
    finally:
        s.close()
    assert f"over {limit} bytes" in str(info.value)
    # what was sent before the client hung up: the bound and the sockets' buffers
    assert endless.sent < limit + (32 << 20)

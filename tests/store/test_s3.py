"""S3-only behaviour: bounded failure on a dead endpoint, the ambiguous retry of a
conditional write, lazy listing, multipart uploads, access denied, the error table."""

from __future__ import annotations

import errno
import io
import os
import time

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from tcfs.errors import (
    AccessDenied,
    BackendUnavailable,
    InvalidName,
    NotFound,
    PreconditionFailed,
    StaleRead,
    StoreError,
    TemporaryFailure,
    Unsupported,
)
from tcfs.store.base import RetryPolicy
from tcfs.store.s3 import S3Store
from tcfs.store.s3_errors import NoSuchBucket, translate
from tests.support.loopback_proxy import SLOW_DOWN, LoopbackProxy, Request
from tests.support.s3server import MotoServer as StrictMoto
from tests.support.s3server import free_port


def _s3(bucket: str, endpoint: str, **kw) -> S3Store:  # type: ignore[no-untyped-def]
    return S3Store(bucket, "proj", endpoint=endpoint, path_style=True, **kw)


@pytest.fixture
def direct(moto_server, s3_bucket):  # type: ignore[no-untyped-def]
    s = _s3(s3_bucket, moto_server.endpoint)
    yield s
    s.close()


def _drop_first(predicate):  # type: ignore[no-untyped-def]
    """A hook that lets the endpoint act on the first matching request, then
    drops its answer; later requests pass."""
    state = {"dropped": 0}

    def hook(req: Request) -> str:
        if state["dropped"] == 0 and predicate(req):
            state["dropped"] += 1
            return "drop"
        return "forward"

    return hook, state


# ----- a dead endpoint -----


def test_down_endpoint_is_backend_unavailable_not_a_hang() -> None:
    store = _s3("bucket", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        store.get("steps/s1/claim.json")
    assert time.monotonic() - start < store.retry.deadline + 10  # bounded by the policy
    assert "127.0.0.1" in str(info.value)
    with pytest.raises(BackendUnavailable):
        list(store.list(""))
    store.close()


# ----- the ambiguous retry -----


def test_lost_answer_of_winning_conditional_put_is_resolved(moto_server, direct) -> None:  # type: ignore[no-untyped-def]
    hook, state = _drop_first(lambda r: r.method == "PUT" and r.header("If-None-Match") == "*")
    proxy = LoopbackProxy(moto_server.port, hook)
    try:
        store = _s3(direct.bucket, proxy.endpoint)
        etag = store.put("steps/s1/claim.json", b'{"agent": "me"}', if_none_match=True)
        assert state["dropped"] == 1
        puts = proxy.count_where(lambda r: r.method == "PUT" and "claim.json" in r.target)
        assert puts == 2  # the first reached moto and won; the retry answered 412
        assert etag == direct.head("steps/s1/claim.json").etag
        assert direct.get("steps/s1/claim.json").body == b'{"agent": "me"}'
        store.close()
    finally:
        proxy.close()


def test_real_loser_still_loses_after_a_lost_answer(moto_server, direct) -> None:  # type: ignore[no-untyped-def]
    direct.put("steps/s1/claim.json", b'{"agent": "other"}')
    hook, state = _drop_first(lambda r: r.method == "PUT" and r.header("If-None-Match") == "*")
    proxy = LoopbackProxy(moto_server.port, hook)
    try:
        store = _s3(direct.bucket, proxy.endpoint)
        with pytest.raises(PreconditionFailed):
            store.put("steps/s1/claim.json", b'{"agent": "me"}', if_none_match=True)
        assert state["dropped"] == 1
        assert direct.get("steps/s1/claim.json").body == b'{"agent": "other"}'
        store.close()
    finally:
        proxy.close()


def test_lost_answer_of_if_match_put_and_conditional_delete(moto_server, direct) -> None:  # type: ignore[no-untyped-def]
    e1 = direct.put("steps/s1/claim.json", b"v1")
    hook, state = _drop_first(lambda r: r.method == "PUT" and r.header("If-Match") is not None)
    proxy = LoopbackProxy(moto_server.port, hook)
    try:
        store = _s3(direct.bucket, proxy.endpoint)
        e2 = store.put("steps/s1/claim.json", b"v2 renewed", if_match=e1)
        assert state["dropped"] == 1
        assert e2 == direct.head("steps/s1/claim.json").etag != e1
        store.close()
    finally:
        proxy.close()

    hook, state = _drop_first(lambda r: r.method == "DELETE" and r.header("If-Match") is not None)
    proxy = LoopbackProxy(moto_server.port, hook)
    try:
        store = _s3(direct.bucket, proxy.endpoint)
        store.delete("steps/s1/claim.json", if_match=e2)  # gone on retry: done
        assert state["dropped"] == 1
        assert not direct.exists("steps/s1/claim.json")
        store.close()
    finally:
        proxy.close()


# ----- listing -----


def _fill(store: S3Store, n: int) -> list[str]:
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"messages/agent/{i:05d}.json" for i in range(n)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.put(k, b"{}"), keys))
    return keys


def _is_list(r: Request) -> bool:
    return r.method == "GET" and "list-type=2" in r.target


@pytest.mark.slow
def test_listing_fetches_pages_only_as_consumed(moto_server, direct) -> None:  # type: ignore[no-untyped-def]
    keys = _fill(direct, 1003)
    proxy = LoopbackProxy(moto_server.port)
    try:
        store = _s3(direct.bucket, proxy.endpoint)
        it = store.list("messages/")
        assert proxy.count_where(_is_list) == 0  # nothing until iterated
        first = next(it)
        assert first.key == keys[0]
        assert proxy.count_where(_is_list) == 1  # one page of 1000, not the whole listing
        rest = list(it)
        assert [e.key for e in rest] == keys[1:]
        assert proxy.count_where(_is_list) == 2
        store.close()
    finally:
        proxy.close()


# ----- large objects -----


@pytest.mark.slow
def test_put_file_uses_multipart_and_aborts_on_failure(moto_server, direct) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(20 << 20)
    proxy = LoopbackProxy(moto_server.port)
    try:
        store = _s3(direct.bucket, proxy.endpoint)
        etag = store.put_file("artifacts/shared/big.bin", io.BytesIO(data), len(data))
        assert etag.strip('"').endswith("-3")  # three 8 MiB parts
        assert proxy.count_where(lambda r: r.method == "PUT" and "partNumber=" in r.target) == 3
        out = io.BytesIO()
        store.get_file("artifacts/shared/big.bin", out)
        assert out.getvalue() == data

        # a source that ends early: the upload is aborted, nothing is written
        with pytest.raises(Exception, match="ended"):
            store.put_file("artifacts/shared/short.bin", io.BytesIO(data[: 17 << 20]), len(data))
        assert proxy.count_where(lambda r: r.method == "DELETE" and "uploadId=" in r.target) == 1
        assert not direct.exists("artifacts/shared/short.bin")
        uploads = moto_server.client().list_multipart_uploads(Bucket=direct.bucket)
        assert not uploads.get("Uploads")
        store.close()
    finally:
        proxy.close()


# ----- names and errors -----


@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "tab\there", "x" * 1100])
def test_control_characters_and_long_keys_refused(direct, bad: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidName):
        direct.put(bad, b"x")
    assert list(direct.list("")) == []


def test_missing_bucket_says_so(moto_server) -> None:  # type: ignore[no-untyped-def]
    store = _s3("no-such-bucket-tcfs", moto_server.endpoint)
    with pytest.raises(NoSuchBucket, match="bucket no-such-bucket-tcfs does not exist"):
        store.get("x")
    with pytest.raises(NoSuchBucket):
        store.delete("x")  # a missing bucket is not an "absent key"
    store.close()


def test_access_denied_with_auth_enabled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # moto enforces credentials after the first N requests; the bucket is made first.
    server = StrictMoto(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "1"})
    try:
        bucket = server.new_bucket()
        store = _s3(bucket, server.endpoint)
        with pytest.raises(AccessDenied, match="access denied"):
            store.get("steps/s1/claim.json")
        with pytest.raises(AccessDenied):
            store.put("steps/s1/claim.json", b"x", if_none_match=True)
        store.close()
    finally:
        server.stop()


def _client_error(code: str, status: int, op: str = "PutObject") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "ignored text"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        op,
    )


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("NoSuchKey", 404, NotFound),
        ("404", 404, NotFound),
        ("PreconditionFailed", 412, PreconditionFailed),
        ("ConditionalRequestConflict", 409, TemporaryFailure),
        ("AccessDenied", 403, AccessDenied),
        ("InvalidAccessKeyId", 403, AccessDenied),
        ("SignatureDoesNotMatch", 403, AccessDenied),
        ("ExpiredToken", 400, AccessDenied),
        ("SlowDown", 503, TemporaryFailure),
        ("InternalError", 500, TemporaryFailure),
        ("RequestTimeout", 400, TemporaryFailure),
        ("ThrottlingException", 400, TemporaryFailure),
        ("", 429, TemporaryFailure),
        ("", 502, TemporaryFailure),
        ("NotImplemented", 501, Unsupported),
        ("WeirdNewCode", 400, StoreError),
    ],
)
def test_error_table(code: str, status: int, cls: type) -> None:
    err = translate(
        _client_error(code, status), op="put_object", bucket="b", key="k", conditional=True
    )
    assert type(err) is cls
    if cls is StoreError:
        assert "WeirdNewCode" in str(err)
    if cls is Unsupported:
        assert "If-None-Match" in str(err)


def test_old_botocore_without_ifmatch_is_unsupported() -> None:
    exc = ParamValidationError(report='Unknown parameter in input: "IfMatch"')
    err = translate(exc, op="put_object", bucket="b", key="k", conditional=True)
    assert isinstance(err, Unsupported)
    assert "boto3>=1.35.69" in str(err)


def test_describe_has_no_secrets(moto_server) -> None:  # type: ignore[no-untyped-def]
    port = moto_server.port
    store = S3Store(
        "b",
        "proj",
        endpoint=f"http://user:hunter2@127.0.0.1:{port}",
        access_key="AKIDSECRET",
        secret_key="SECRETKEY",
    )
    text = store.describe()
    assert text == f"s3:b/proj at http://127.0.0.1:{port}"
    assert "hunter2" not in text and "SECRETKEY" not in text
    store.close()


def test_throttling_is_retried_then_succeeds(moto_server, direct) -> None:  # type: ignore[no-untyped-def]
    direct.put("k", b"v")
    state = {"n": 0}

    def hook(req: Request):  # type: ignore[no-untyped-def]
        if req.method == "GET" and state["n"] < 2:
            state["n"] += 1
            return (503, SLOW_DOWN)
        return "forward"

    proxy = LoopbackProxy(moto_server.port, hook)
    try:
        store = _s3(direct.bucket, proxy.endpoint, retry=RetryPolicy(attempts=4, deadline=10))
        assert store.get("k").body == b"v"
        assert state["n"] == 2
        assert proxy.count_where(lambda r: r.method == "GET") == 3
        # a budget too small for the throttling: TemporaryFailure, not a hang
        state["n"] = 0
        tight = _s3(direct.bucket, proxy.endpoint, retry=RetryPolicy(attempts=2, deadline=5))
        with pytest.raises(TemporaryFailure):
            tight.get("k")
        store.close()
        tight.close()
    finally:
        proxy.close()


def test_an_object_that_changes_mid_download_is_a_stale_read(direct) -> None:  # type: ignore[no-untyped-def]
    """ESTALE ("Stale file handle"), not EEXIST: nothing was created, the
    pieces read so far belong to another version."""
    direct.put("artifacts/shared/moving.bin", b"a" * 64)

    class Rewriting(io.BytesIO):
        def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
            if not self.tell():  # after the first piece arrived, another agent rewrites it
                direct.put("artifacts/shared/moving.bin", b"b" * 64)
            return super().write(data)

    with pytest.raises(StaleRead) as exc:
        direct.get_file("artifacts/shared/moving.bin", Rewriting(), chunk=16)
    assert exc.value.errno == errno.ESTALE

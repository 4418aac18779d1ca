"""The S3 backend: boto3 against any S3-compatible endpoint.

Every request goes through one choke point, ``S3Store._call``: it logs the
operation and key (never a body, never credentials), runs the request under the
one retry policy (``call_with_retry``; botocore's own retries are off so that a
retry is always visible to us), and translates errors from the table in
``s3_errors``.  Conditional writes use ``If-None-Match: *`` and ``If-Match``
(boto3 >= 1.35.69); a conditional write whose answer was lost is resolved by
reading the object back (see ``put``).  Inside it, a one-key GET, PUT, HEAD or
DELETE of a small record and a listing take the short path of ``s3_wire``
(signed as botocore signs, on connections of its own, for a fifth of the
CPU); ``TCFS_S3_CLIENT_ONLY=1`` sends everything through the botocore client.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from tcfs.errors import ConfigError, NotFound, PreconditionFailed, StaleRead, TcfsError
from tcfs.store.base import (
    DEFAULT_RETRY,
    Blob,
    CommonPrefix,
    ListEntry,
    ObjectInfo,
    RetryPolicy,
    Store,
    call_with_retry,
    public_endpoint,
)
from tcfs.store.s3_errors import NoSuchBucket, NotModified, RangeNotSatisfiable, translate
from tcfs.store.s3_wire import Declined, Wire
from tcfs.store.validate import check_key, check_prefix

if TYPE_CHECKING:
    from tcfs.config import Settings

log = logging.getLogger(__name__)

PART_SIZE = 8 << 20  # multipart part size
MULTIPART_THRESHOLD = 16 << 20  # objects above this are uploaded in parts
LIST_PAGE = 1000
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
#: a body up to this size is sent with its headers, not after a "100 Continue"
SEND_AT_ONCE = 1 << 20


def _send_small_bodies_at_once(params: dict[str, Any], **_: Any) -> None:
    """botocore asks for ``Expect: 100-continue`` on every PUT with a body and
    waits for the server's "100 Continue" before sending it: on a real bucket
    a whole extra round trip per write.  For a record that fits in a packet or
    a few, saving the body's bytes on a refusal is not worth that; a large
    part still waits, so a refused upload sends no megabytes."""
    from botocore.utils import determine_content_length

    headers = params.get("headers", {})
    if headers.get("Expect") == "100-continue":
        size = determine_content_length(params.get("body"))
        if size is not None and size <= SEND_AT_ONCE:
            del headers["Expect"]


def _server_start_after(start_after: str | None) -> str | None:
    """A ``StartAfter`` no server can skip a wanted key with; the rest is filtered here.

    Servers that store keys as a directory tree (SeaweedFS) compare a folder by
    its bare name: after ``a.json`` they skip the folder ``a`` whole, although
    ``a/x.json`` sorts after ``a.json`` in byte order (``/`` > ``.``).  Only a
    folder whose name is a prefix of the last part followed by a byte below
    ``/`` can be skipped so; starting one byte before the first such byte
    keeps every such folder in the answer, at the price of a few keys the
    caller filters out.
    """
    if not start_after:
        return None
    head, _, leaf = start_after.rpartition("/")
    cut = next((i for i, ch in enumerate(leaf) if ch < "/"), len(leaf))
    if cut == len(leaf):
        return start_after
    safe = leaf[: max(cut - 1, 0)]
    if safe:
        return f"{head}/{safe}" if head else safe
    return f"{head}/" if head else None


def keeps_empty_prefixes(resp: dict[str, Any]) -> bool:
    """SeaweedFS keeps a folder listed as a CommonPrefix after its last key is
    deleted; its answers name it in the ``Server`` header."""
    headers = (resp.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    return str(headers.get("server", "")).startswith("SeaweedFS")


def _date_of(resp: dict[str, Any]) -> str | None:
    """The ``Date`` header of an answer (the store's clock)."""
    headers = (resp.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    date = headers.get("date")
    return date if isinstance(date, str) else None


def _attempt_of(exc: BaseException) -> int:
    return int(getattr(exc, "attempt", 0))


class S3Store(Store):
    kind = "s3"
    conditional_writes = True
    attempt_timeout_s = CONNECT_TIMEOUT + READ_TIMEOUT

    def __init__(
        self,
        bucket: str,
        project: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        path_style: bool | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        short_path: bool = True,
    ) -> None:
        super().__init__(bucket, project, retry=retry)
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint or None
        self.region = region or ("us-east-1" if endpoint else None)
        self.path_style = bool(endpoint) if path_style is None else path_style
        config = Config(
            # We own retries: botocore retrying inside one of our attempts would
            # hide a lost conditional-PUT answer from the ambiguity check below.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_pool_connections=32,
            # Gateways (HF's S3 gateway, R2, MinIO) reject the newer default checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path" if self.path_style else "auto"},
        )
        creds: dict[str, str] = {}
        if access_key and secret_key:
            creds = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        try:
            session = boto3.session.Session(region_name=self.region, **creds)
            # One client for the store: botocore clients are thread-safe.
            self._client = session.client("s3", endpoint_url=self.endpoint, config=config)
            self._client.meta.events.register_last("before-call.s3", _send_small_bodies_at_once)
            short_path = short_path and not os.environ.get("TCFS_S3_CLIENT_ONLY")
            self._wire = (
                Wire.for_client(
                    self._client,
                    session,
                    bucket=bucket,
                    path_style=self.path_style,
                    max_body=SEND_AT_ONCE,
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                )
                if short_path
                else None
            )
        except ValueError as exc:  # e.g. a malformed endpoint URL
            raise ConfigError(f"cannot set up the S3 client: {exc}") from exc
        except Exception as exc:
            raise translate(exc, op="connect", bucket=bucket) from exc
        self._prefix = f"{project}/"
        self._closed = threading.Event()

    @classmethod
    def from_settings(cls, settings: Settings, *, retry: RetryPolicy = DEFAULT_RETRY) -> S3Store:
        return cls(
            settings.bucket,
            settings.project,
            endpoint=settings.get("endpoint"),
            region=settings.get("region"),
            path_style=settings.get("path_style"),
            access_key=settings.get("access_key"),
            secret_key=settings.get("secret_key"),
            retry=retry,
        )

    # ----- the choke point -----

    def _call(
        self,
        op: str,
        *,
        read_body: bool = False,
        conditional: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run one S3 operation with retries and error translation.

        ``read_body`` reads a streaming ``Body`` inside the attempt, so a
        connection dropped mid-body is retried like any other.  A translated
        error carries ``attempt``: the attempt number that raised it.
        """
        fn: Callable[..., dict[str, Any]] = getattr(self._client, op)
        key = str(kwargs.get("Key") or kwargs.get("Prefix") or "")
        wire = self._wire if self._wire and self._wire.handles(op, kwargs, read_body) else None

        def once(attempt: int) -> dict[str, Any]:
            log.debug("s3 %s %s/%s (attempt %d)", op, self.bucket, key, attempt)
            sent = time.time()
            try:
                resp: dict[str, Any] | None = None
                if wire is not None and wire.enabled:
                    try:
                        resp = wire.send(op, kwargs)
                    except Declined:
                        pass  # not carried out: the client sends it
                if resp is None:
                    resp = fn(**kwargs)
                    if read_body and "Body" in resp:
                        body = resp["Body"]
                        try:
                            resp["Body"] = body.read()
                        finally:
                            body.close()
                self.clock.observe(_date_of(resp), sent, time.time())
                return resp
            except TcfsError:
                raise
            except Exception as exc:
                err = translate(exc, op=op, bucket=self.bucket, key=key, conditional=conditional)
                err.attempt = attempt  # type: ignore[attr-defined]
                raise err from exc

        return call_with_retry(once, self.retry, what=f"s3 {op} {key}")

    # ----- reads -----

    def get(self, key: str, *, byte_range: tuple[int, int] | None = None) -> Blob:
        full = check_key(key, self.project)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if byte_range is not None:
            offset, length = byte_range
            if offset < 0 or length < 0:
                raise ValueError(f"invalid byte range {byte_range}")
            if length == 0:
                info = self.head(key)
                return Blob(body=b"", etag=info.etag or "", size=info.size, mtime=info.mtime)
            kwargs["Range"] = f"bytes={offset}-{offset + length - 1}"
        try:
            resp = self._call("get_object", read_body=True, **kwargs)
        except RangeNotSatisfiable:
            # Reading at or past the end answers empty, as a file does.
            info = self.head(key)
            return Blob(body=b"", etag=info.etag or "", size=info.size, mtime=info.mtime)
        body: bytes = resp["Body"]
        size = len(body)
        content_range = resp.get("ContentRange")  # "bytes 0-9/1234"
        if content_range and "/" in content_range:
            total = content_range.rsplit("/", 1)[1]
            if total.isdigit():
                size = int(total)
        elif resp.get("ContentLength") is not None and byte_range is None:
            size = int(resp["ContentLength"])
        return Blob(
            body=body,
            etag=resp.get("ETag", ""),
            size=size,
            mtime=resp["LastModified"].timestamp() if resp.get("LastModified") else 0.0,
        )

    def get_if_changed(self, key: str, etag: str | None) -> Blob | None:
        """One GET with ``If-None-Match``: an unchanged object answers 304, no body."""
        if etag is None:
            return self.get(key)
        full = check_key(key, self.project)
        try:
            resp = self._call(
                "get_object", read_body=True, Bucket=self.bucket, Key=full, IfNoneMatch=etag
            )
        except NotModified:
            return None
        body: bytes = resp["Body"]
        if resp.get("ETag", "") == etag:
            return None  # a server that ignores If-None-Match answered 200
        return Blob(
            body=body,
            etag=resp.get("ETag", ""),
            size=len(body),
            mtime=resp["LastModified"].timestamp() if resp.get("LastModified") else 0.0,
        )

    def head(self, key: str) -> ObjectInfo:
        full = check_key(key, self.project)
        resp = self._call("head_object", Bucket=self.bucket, Key=full)
        return ObjectInfo(
            key=key,
            size=int(resp.get("ContentLength", 0)),
            etag=resp.get("ETag"),
            mtime=resp["LastModified"].timestamp() if resp.get("LastModified") else 0.0,
        )

    def list(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        delimiter: str | None = None,
    ) -> Iterator[ListEntry]:
        full = check_prefix(prefix, self.project)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full, "MaxKeys": LIST_PAGE}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        server_start = _server_start_after(start_after)
        if server_start:
            kwargs["StartAfter"] = self._prefix + server_start
        return self._pages(kwargs, start_after)

    def _pages(self, kwargs: dict[str, Any], start_after: str | None) -> Iterator[ListEntry]:
        """One ListObjectsV2 page per step of the caller's iteration, no more."""
        strip = len(self._prefix)
        while True:
            resp = self._call("list_objects_v2", **kwargs)
            entries: list[tuple[str, ListEntry]] = []
            for obj in resp.get("Contents", ()):
                key = obj["Key"][strip:]
                if start_after is not None and key <= start_after:
                    continue  # the server started earlier than asked (see _server_start_after)
                mtime = obj["LastModified"].timestamp() if obj.get("LastModified") else 0.0
                entries.append(
                    (key, ObjectInfo(key, int(obj.get("Size", 0)), obj.get("ETag"), mtime))
                )
            keeps_empty = keeps_empty_prefixes(resp)
            for cp in resp.get("CommonPrefixes", ()):
                sub = cp["Prefix"][strip:]
                # Same answer as the local store: a folded prefix is "after" only if it sorts after.
                if start_after is not None and sub <= start_after:
                    continue
                if keeps_empty and self._is_empty(cp["Prefix"]):
                    continue  # an emptied folder the server still lists
                entries.append((sub, CommonPrefix(sub)))
            # S3 returns objects and prefixes in two sorted lists; interleave them.
            entries.sort(key=lambda e: e[0].encode("utf-8"))
            for _, entry in entries:
                yield entry
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                return
            kwargs = {**kwargs, "ContinuationToken": token}

    def _is_empty(self, full_prefix: str) -> bool:
        resp = self._call("list_objects_v2", Bucket=self.bucket, Prefix=full_prefix, MaxKeys=1)
        return not resp.get("Contents")

    # ----- writes -----

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        full = check_key(key, self.project)
        if if_none_match and if_match is not None:
            raise ValueError("if_none_match and if_match are exclusive")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full, "Body": bytes(body)}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        conditional = if_none_match or if_match is not None
        try:
            resp = self._call("put_object", conditional=conditional, **kwargs)
        except (PreconditionFailed, NotFound) as exc:
            # The ambiguous retry: an earlier attempt may have reached the server
            # and won, with only its answer lost (dropped connection, timeout).
            # The retry then sees our own object and answers 412 (or, for
            # If-Match, the ETag we replaced is gone).  Read the object back: if
            # it holds exactly the bytes we sent, the winning write was ours.
            # Bodies carry the writer's id and a timestamp, so equal bytes from
            # another writer would be an identical record anyway.
            retried = conditional and _attempt_of(exc) > 0
            # Some servers (SeaweedFS) answer If-Match on a missing key with 412
            # where AWS says 404: a read tells the two apart.
            ambiguous_412 = if_match is not None and isinstance(exc, PreconditionFailed)
            if (retried or ambiguous_412) and not isinstance(exc, NoSuchBucket):
                current = self._current(key)
                if retried and current is not None and current.body == bytes(body):
                    log.info("s3 put %s: lost answer resolved by read-back: our write won", key)
                    return current.etag
                if ambiguous_412 and current is None:
                    raise NotFound(f"no such key: s3://{self.bucket}/{key}") from exc
            raise
        return str(resp.get("ETag", ""))

    def _current(self, key: str) -> Blob | None:
        try:
            return self.get(key)
        except NotFound:
            return None

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        full = check_key(key, self.project)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            self._call("delete_object", conditional=if_match is not None, **kwargs)
        except NoSuchBucket:
            raise
        except PreconditionFailed as exc:
            # SeaweedFS answers a conditional delete of a missing key with 412
            # (AWS: 404); only a read can tell "changed" from "gone".
            if self.exists(key):
                raise
            if _attempt_of(exc) > 0:
                log.info("s3 delete %s: gone on retry, treating as done", key)
                return
            raise NotFound(f"no such key: s3://{self.bucket}/{key}") from exc
        except NotFound as exc:
            if if_match is None:
                return  # deleting an absent key is not an error
            if _attempt_of(exc) > 0:
                # The ambiguous retry of a conditional delete: an earlier attempt
                # whose answer was lost already removed the object.  It is gone,
                # which is what was asked.
                log.info("s3 delete %s: gone on retry, treating as done", key)
                return
            raise

    def put_file(
        self, key: str, fileobj: BinaryIO, size: int, *, journal: str | None = None
    ) -> str:
        full = check_key(key, self.project)
        if size <= MULTIPART_THRESHOLD:
            data = fileobj.read(size)
            return self.put(key, data)
        upload = self._call("create_multipart_upload", Bucket=self.bucket, Key=full)
        upload_id = upload["UploadId"]
        # A process killed mid-upload leaves the parts stored (and billed) for
        # good: the record lets its successor abort them (``abort_uploads``).
        record = f"{journal}{uuid.uuid4().hex}.json" if journal else None
        try:
            if record:
                self.put(record, json.dumps({"key": key, "upload_id": upload_id}).encode())
            parts = []
            number = 1
            left = size
            while left > 0:
                chunk = fileobj.read(min(PART_SIZE, left))
                if not chunk:
                    raise TcfsError(f"{key}: the source ended {left} bytes early")
                resp = self._call(
                    "upload_part",
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                )
                parts.append({"ETag": resp["ETag"], "PartNumber": number})
                left -= len(chunk)
                number += 1
            done = self._call(
                "complete_multipart_upload",
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            try:
                self._call(
                    "abort_multipart_upload", Bucket=self.bucket, Key=full, UploadId=upload_id
                )
            except TcfsError as exc:
                log.warning("s3 put_file %s: could not abort upload: %s", key, exc)
            raise
        finally:
            if record:
                self._forget(record)
        return str(done.get("ETag", ""))

    def _forget(self, record: str) -> None:
        try:
            self.delete(record)
        except TcfsError as exc:  # the next mount aborts an upload already gone: harmless
            log.warning("s3: could not remove the upload record %s: %s", record, exc)

    def abort_uploads(self, journal: str) -> int:
        aborted = 0
        for record in list(self.keys(journal)):
            try:
                doc = json.loads(self.get(record).body)
                key, upload_id = str(doc["key"]), str(doc["upload_id"])
            except NotFound:
                continue
            except (ValueError, KeyError, TypeError):
                log.warning("s3: %s is not an upload record; removing it", record)
                self._forget(record)
                continue
            try:
                self._call(
                    "abort_multipart_upload",
                    Bucket=self.bucket,
                    Key=check_key(key, self.project),
                    UploadId=upload_id,
                )
                aborted += 1
                log.info("s3: aborted the upload of %s a killed process left", key)
            except NotFound:
                pass  # completed or aborted already
            self._forget(record)
        return aborted

    def abort_stale_uploads(self, older_than_s: float) -> tuple[str, ...]:
        cutoff = time.time() - older_than_s
        aborted: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": f"{self.project}/"}
        while True:
            page = self._call("list_multipart_uploads", **kwargs)
            for up in page.get("Uploads", []):
                if up["Initiated"].timestamp() > cutoff:
                    continue
                try:
                    self._call(
                        "abort_multipart_upload",
                        Bucket=self.bucket,
                        Key=up["Key"],
                        UploadId=up["UploadId"],
                    )
                except NotFound:
                    continue
                aborted.append(up["Key"][len(self.project) + 1 :])
            if not page.get("IsTruncated"):
                return tuple(aborted)
            kwargs["KeyMarker"] = page.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def get_file(self, key: str, fileobj: BinaryIO, *, chunk: int = PART_SIZE) -> int:
        """Stream an object with ranged GETs; ``StaleRead`` if it changes
        while being read (the pieces would not belong together)."""
        first = self.get(key, byte_range=(0, chunk))
        fileobj.write(first.body)
        done = len(first.body)
        while done < first.size:
            blob = self.get(key, byte_range=(done, min(chunk, first.size - done)))
            if blob.etag != first.etag:
                raise StaleRead(f"{key} changed while it was being downloaded")
            if not blob.body:
                break
            fileobj.write(blob.body)
            done += len(blob.body)
        return done

    # ----- misc -----

    def raw(self, op: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """One request exactly as asked: no retry, no translation, no read-back.

        For ``tcfs doctor``'s probes of how a server answers.  ``Key``,
        ``Prefix`` and ``StartAfter`` are project-relative.  Returns the HTTP
        status and the response (the error response for a 4xx/5xx).
        """
        from botocore.exceptions import ClientError

        for name in ("Key", "Prefix", "StartAfter"):
            if name in kwargs:
                kwargs[name] = self._prefix + kwargs[name]
        fn: Callable[..., dict[str, Any]] = getattr(self._client, op)
        try:
            resp = fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            meta = exc.response.get("ResponseMetadata") or {}
            return int(meta.get("HTTPStatusCode") or 0), dict(exc.response)
        except Exception as exc:
            raise translate(exc, op=op, bucket=self.bucket) from exc
        body = resp.get("Body")
        if body is not None:
            body.close()
        return int((resp.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0), resp

    @property
    def strip(self) -> int:
        """Length of the project prefix on full keys in raw answers."""
        return len(self._prefix)

    def describe(self) -> str:
        where = public_endpoint(self.endpoint)
        return f"s3:{self.bucket}/{self.project}" + (f" at {where}" if where else "")

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            if self._wire is not None:
                self._wire.close()
            self._client.close()

"""A local stand-in for the Hugging Face Hub's bucket API and its Xet CAS.

It serves, on 127.0.0.1, exactly the endpoints the real ``huggingface_hub``
client (and its ``hf_xet`` uploader) calls for bucket files:

Hub API
  POST /api/buckets/<ns>/<name>                  create_bucket
  GET  /api/buckets/<ns>/<name>                  bucket_info
  GET  /api/buckets/<id>/xet-{read,write}-token  Xet token (points at the CAS below)
  POST /api/buckets/<id>/paths-info              get_bucket_paths_info
  GET  /api/buckets/<id>/tree[/<prefix>]         list_bucket_tree (Link-header pages)
  POST /api/buckets/<id>/batch                   batch_bucket_files (ndjson add/delete)
  GET  /buckets/<id>/resolve/<path>              file bytes, with Range
Xet CAS (under /cas)
  GET  /cas/v1/chunks/default-merkledb/<hash>    global dedup: always "unknown" (404)
  POST /cas/v1/xorbs/default/<hash>              store a serialized xorb
  POST /cas/v1/shards                            register files (file hash → xorb chunk ranges)

The client first tries two newer CAS endpoints (``/v1/xorb-grants/...`` and
``/v2/shards``); the stand-in answers them 404, as a CAS without them does, and
the client falls back to the two above.

Xorb chunks are decoded (none / LZ4 frame / byte-grouped LZ4) so a file's bytes
can be served from ``resolve``.  Everything is kept in memory.  Every request
is recorded in ``requests`` so tests can count them.
"""

from __future__ import annotations

import json
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# ---------- LZ4 (frame format) decoding, for xorb chunks ----------


def _lz4_block(src: bytes, out: bytearray) -> None:
    """Decode one LZ4 block, appending to ``out`` (which holds earlier blocks' window)."""
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i : i + lit]
        i += lit
        if i >= n:
            break
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        mlen = token & 15
        if mlen == 15:
            while True:
                b = src[i]
                i += 1
                mlen += b
                if b != 255:
                    break
        mlen += 4
        start = len(out) - offset
        if offset >= mlen:
            out += out[start : start + mlen]
        else:
            for k in range(mlen):
                out.append(out[start + k])


def lz4_frame_decode(data: bytes) -> bytes:
    if data[:4] != b"\x04\x22\x4d\x18":
        raise ValueError("not an LZ4 frame")
    flg = data[4]
    i = 6  # magic, FLG, BD
    if flg & 0x08:
        i += 8  # content size
    if flg & 0x01:
        i += 4  # dictionary id
    i += 1  # header checksum
    block_checksum = bool(flg & 0x10)
    out = bytearray()
    while i + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, i)
        i += 4
        if size == 0:
            break
        raw = bool(size & 0x80000000)
        size &= 0x7FFFFFFF
        block = data[i : i + size]
        i += size
        if block_checksum:
            i += 4
        if raw:
            out += block
        else:
            _lz4_block(block, out)
    return bytes(out)


def _ungroup4(data: bytes) -> bytes:
    n = len(data)
    sizes = [n // 4 + (1 if k < n % 4 else 0) for k in range(4)]
    groups, pos = [], 0
    for s in sizes:
        groups.append(data[pos : pos + s])
        pos += s
    out = bytearray(n)
    for k in range(4):
        out[k::4] = groups[k]
    return bytes(out)


def decode_xorb(data: bytes) -> list[bytes]:
    """The uncompressed chunks of a serialized xorb (stops at the footer)."""
    chunks: list[bytes] = []
    i = 0
    while i + 8 <= len(data) and data[i] == 0:
        csize = int.from_bytes(data[i + 1 : i + 4], "little")
        scheme = data[i + 4]
        usize = int.from_bytes(data[i + 5 : i + 8], "little")
        body = data[i + 8 : i + 8 + csize]
        i += 8 + csize
        if scheme == 0:
            chunk = body
        elif scheme == 1:
            chunk = lz4_frame_decode(body)
        elif scheme == 2:
            chunk = _ungroup4(lz4_frame_decode(body))
        else:
            raise ValueError(f"unknown chunk compression {scheme}")
        if len(chunk) != usize:
            raise ValueError("chunk size mismatch")
        chunks.append(chunk)
    return chunks


# ---------- shards ----------

_BOOKEND = b"\xff" * 32


def hash_hex(raw: bytes) -> str:
    """Xet's string form of a hash: each 8-byte word as a little-endian u64."""
    return "".join(f"{v:016x}" for v in struct.unpack("<4Q", raw))


def parse_shard_files(data: bytes) -> dict[str, list[tuple[str, int, int]]]:
    """file hash → [(xorb hash, chunk start, chunk end)] from a shard's file info section."""
    files: dict[str, list[tuple[str, int, int]]] = {}
    i = 48  # header
    while i + 48 <= len(data):
        fhash = data[i : i + 32]
        flags, n = struct.unpack_from("<II", data, i + 32)
        i += 48
        if fhash == _BOOKEND:
            break
        terms = []
        for _ in range(n):
            xhash = data[i : i + 32]
            _cas_flags, _unpacked, start, end = struct.unpack_from("<IIII", data, i + 32)
            terms.append((hash_hex(xhash), start, end))
            i += 48
        if flags & 0x80000000:
            i += 48 * n  # verification entries
        if flags & 0x40000000:
            i += 48  # metadata extension
        files[hash_hex(fhash)] = terms
    return files


# ---------- the server ----------


@dataclass
class _File:
    data: bytes
    xet_hash: str
    mtime: float
    uploaded: float


@dataclass
class _Bucket:
    private: bool
    created: float
    files: dict[str, _File] = field(default_factory=dict)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class HfStandIn:
    """The server plus its state; ``store(project)`` gives an HfStore on a fresh bucket."""

    TREE_PAGE = 1000

    def __init__(self, token: str = "hf_standin_token") -> None:
        self.token = token
        self.lock = threading.Lock()
        self.buckets: dict[str, _Bucket] = {}
        self.xorbs: dict[str, list[bytes]] = {}
        self.file_terms: dict[str, list[tuple[str, int, int]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out as separate writes: with Nagle's algorithm
            # each keep-alive answer waited out the client's delayed ACK (40 ms)
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_HEAD(self) -> None:
                standin._handle(self, "HEAD")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_PUT(self) -> None:
                standin._handle(self, "PUT")

            def do_DELETE(self) -> None:
                standin._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ----- fixtures' helpers -----

    def new_bucket(self) -> str:
        from huggingface_hub import HfApi

        bucket_id = f"tester/tcfs-{uuid.uuid4().hex[:12]}"
        HfApi(endpoint=self.endpoint, token=self.token).create_bucket(bucket_id, private=True)
        return bucket_id

    def store(self, project: str = "proj"):  # type: ignore[no-untyped-def]
        from tcfs.store.hf import HfStore

        return HfStore(self.new_bucket(), project, endpoint=self.endpoint, token=self.token)

    def count(self, method: str, path_contains: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and path_contains in p)

    # ----- request handling -----

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked(h)
        with self.lock:
            self.requests.append((method, url.path))
        try:
            if h.headers.get("Authorization") != f"Bearer {self.token}" and not path.startswith(
                "/cas/"
            ):
                return self._json(h, 401, {"error": "Invalid credentials"})
            self._route(h, method, path, query, body)
        except _Reply as r:
            self._json(h, r.status, r.payload)

    @staticmethod
    def _read_chunked(h: BaseHTTPRequestHandler) -> bytes:
        out = bytearray()
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                h.rfile.readline()
                return bytes(out)
            out += h.rfile.read(size)
            h.rfile.readline()

    def _route(
        self,
        h: BaseHTTPRequestHandler,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: bytes,
    ) -> None:
        parts = path.strip("/").split("/")
        # ---- CAS ----
        if parts[0] == "cas":
            return self._cas(h, method, parts[1:], body)
        # ---- resolve ----
        if len(parts) >= 5 and parts[0] == "buckets" and parts[3] == "resolve":
            return self._resolve(h, method, f"{parts[1]}/{parts[2]}", "/".join(parts[4:]))
        if len(parts) < 4 or parts[:2] != ["api", "buckets"]:
            return self._unknown(h, method, path)
        bucket_id = f"{parts[2]}/{parts[3]}"
        rest = parts[4:]
        if not rest:
            if method == "POST":
                with self.lock:
                    if bucket_id in self.buckets:
                        raise _Reply(409, {"error": "bucket already exists"})
                    payload = json.loads(body or b"{}")
                    self.buckets[bucket_id] = _Bucket(
                        private=payload.get("visibility") == "private", created=time.time()
                    )
                return self._json(h, 200, {"url": f"{self.endpoint}/buckets/{bucket_id}"})
            if method == "GET":
                b = self._bucket(bucket_id)
                with self.lock:
                    return self._json(
                        h,
                        200,
                        {
                            "id": bucket_id,
                            "private": b.private,
                            "createdAt": _iso(b.created),
                            "size": sum(len(f.data) for f in b.files.values()),
                            "totalFiles": len(b.files),
                        },
                    )
        b = self._bucket(bucket_id)
        if rest[0] in ("xet-write-token", "xet-read-token") and method == "GET":
            return self._json(
                h,
                200,
                {
                    "accessToken": "xet-standin",
                    "exp": int(time.time()) + 3600,
                    "casUrl": f"{self.endpoint}/cas",
                },
                extra={
                    "X-Xet-Cas-Url": f"{self.endpoint}/cas",
                    "X-Xet-Access-Token": "xet-standin",
                    "X-Xet-Token-Expiration": str(int(time.time()) + 3600),
                },
            )
        if rest[0] == "paths-info" and method == "POST":
            wanted = json.loads(body)["paths"]
            with self.lock:
                out = [self._file_json(p, b.files[p]) for p in wanted if p in b.files]
            return self._json(h, 200, out)
        if rest[0] == "tree" and method == "GET":
            return self._tree(h, b, "/".join(rest[1:]), query)
        if rest[0] == "batch" and method == "POST":
            return self._batch(h, b, body)
        return self._unknown(h, method, path)

    def _bucket(self, bucket_id: str) -> _Bucket:
        with self.lock:
            b = self.buckets.get(bucket_id)
        if b is None:
            raise _Reply(404, {"error": f"Bucket {bucket_id} not found"})
        return b

    @staticmethod
    def _file_json(path: str, f: _File) -> dict[str, Any]:
        return {
            "type": "file",
            "path": path,
            "size": len(f.data),
            "xetHash": f.xet_hash,
            "mtime": _iso(f.mtime),
            "uploadedAt": _iso(f.uploaded),
        }

    def _tree(
        self, h: BaseHTTPRequestHandler, b: _Bucket, prefix: str, query: dict[str, list[str]]
    ) -> None:
        recursive = (query.get("recursive") or ["false"])[0].lower() == "true"
        cursor = int((query.get("cursor") or ["0"])[0])
        base = prefix.rstrip("/") + "/" if prefix else ""
        entries: dict[str, dict[str, Any]] = {}
        with self.lock:
            for p, f in b.files.items():
                if not p.startswith(base):
                    continue
                rel = p[len(base) :]
                if recursive or "/" not in rel:
                    entries[p] = self._file_json(p, f)
                else:
                    d = base + rel.split("/", 1)[0]
                    entries.setdefault(
                        d, {"type": "directory", "path": d, "uploadedAt": _iso(f.uploaded)}
                    )
        if prefix and not entries:
            raise _Reply(404, {"error": f"no such path {prefix}"})
        items = [entries[k] for k in sorted(entries)]
        page = items[cursor : cursor + self.TREE_PAGE]
        extra = {}
        if cursor + self.TREE_PAGE < len(items):
            q = f"recursive={'true' if recursive else 'false'}&cursor={cursor + self.TREE_PAGE}"
            link = h.path.split("?", 1)[0] + "?" + q
            extra["Link"] = f'<{self.endpoint}{link}>; rel="next"'
        self._json(h, 200, page, extra=extra)

    def _batch(self, h: BaseHTTPRequestHandler, b: _Bucket, body: bytes) -> None:
        failed = []
        now = time.time()
        for line in body.splitlines():
            if not line.strip():
                continue
            op = json.loads(line)
            path = op["path"]
            if op["type"] == "addFile":
                with self.lock:
                    terms = self.file_terms.get(op["xetHash"])
                    if terms is None:
                        failed.append({"path": path, "error": "unknown xet hash"})
                        continue
                    data = b"".join(b"".join(self.xorbs[x][s:e]) for x, s, e in terms)
                    mtime = op.get("mtime")
                    b.files[path] = _File(
                        data, op["xetHash"], (mtime / 1000 if mtime else now), now
                    )
            elif op["type"] == "deleteFile":
                with self.lock:
                    b.files.pop(path, None)
            else:
                failed.append({"path": path, "error": f"unsupported {op['type']}"})
        self._json(
            h,
            422 if failed and len(failed) == len(body.splitlines()) else 200,
            {"success": True, "failed": failed},
        )

    def _resolve(self, h: BaseHTTPRequestHandler, method: str, bucket_id: str, path: str) -> None:
        b = self._bucket(bucket_id)
        with self.lock:
            f = b.files.get(path)
        if f is None:
            raise _Reply(404, {"error": "Entry not found"})
        data = f.data
        status, headers = 200, {"X-Xet-Hash": f.xet_hash, "ETag": f'"{f.xet_hash}"'}
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            start = int(first)
            end = int(last) + 1 if last else len(data)
            if start >= len(data):
                raise _Reply(416, {"error": "Range not satisfiable"})
            end = min(end, len(data))
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
            data = data[start:end]
            status = 206
        self._send(
            h,
            status,
            data if method != "HEAD" else b"",
            "application/octet-stream",
            headers,
            length=len(data),
        )

    def _cas(self, h: BaseHTTPRequestHandler, method: str, parts: list[str], body: bytes) -> None:
        if h.headers.get("Authorization") != "Bearer xet-standin":
            raise _Reply(401, {"error": "bad xet token"})
        if parts[:2] == ["v1", "chunks"]:
            raise _Reply(404, {"error": "chunk not tracked"})
        if parts[:2] == ["v1", "xorbs"] and method == "POST" and len(parts) == 4:
            chunks = decode_xorb(body)
            with self.lock:
                inserted = parts[3] not in self.xorbs
                self.xorbs[parts[3]] = chunks
            return self._json(h, 200, {"was_inserted": inserted})
        if parts == ["v1", "shards"] and method == "POST":
            files = parse_shard_files(body)
            with self.lock:
                self.file_terms.update(files)
            return self._json(h, 200, {"result": 1})
        return self._unknown(h, method, "/cas/" + "/".join(parts))

    def _unknown(self, h: BaseHTTPRequestHandler, method: str, path: str) -> None:
        with self.lock:
            self.unknown.append((method, path))
        raise _Reply(404, {"error": f"stand-in does not serve {method} {path}"})

    # ----- responses -----

    def _json(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        extra: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        headers = dict(extra or {})
        if status >= 400:
            headers["X-Error-Message"] = (
                str(payload.get("error", "")) if isinstance(payload, dict) else ""
            )
        self._send(h, status, data, "application/json", headers)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        ctype: str,
        headers: dict[str, str],
        length: int | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data) if length is None else length))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if data:
            h.wfile.write(data)


class _Reply(Exception):
    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload

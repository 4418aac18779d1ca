"""The run's shared state: scratch directory, servers, clients, and how to seed a bucket.

Seeding (putting thousands of records in place before a measurement) talks to
moto directly, not through the counting proxy, so it never shows up in a count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.mounts import Backend
from bench.procs import Reaper
from bench.servers import LoopbackServer, s3_client
from tcfs.protocol import keys
from tests.support.loopback_proxy import LoopbackProxy


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def jdump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode()


def message_key(to: str, sender: str) -> str:
    return keys.append_key(keys.mailbox_prefix(to), sender)


def message_doc(sender: str, to: str, text: str) -> bytes:
    return jdump({"from": sender, "to": to, "message": text, "sent_at": now_iso()})


def memory_doc(value: str, by: str = "seed") -> bytes:
    return jdump({"value": value, "set_by": by, "set_at": now_iso()})


def claim_doc(agent: str) -> bytes:
    """A claim as the CLI writes it: no lease, so it never expires."""
    return jdump({"agent": agent, "claimed_at": now_iso()})


def status_doc(agent: str, status: str = "in_progress") -> bytes:
    return jdump({"status": status, "agent": agent, "started_at": now_iso()})


@dataclass
class Ctx:
    root: Path
    reaper: Reaper
    quick: bool
    log: Callable[[str], None]
    moto: LoopbackServer | None = None
    proxy: LoopbackProxy | None = None
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._direct: Any = None
        self._floor: Any = None

    # ----- clients -----

    @property
    def direct(self) -> Any:
        """boto3 straight to moto: for seeding and verification, never counted."""
        if self._direct is None:
            assert self.moto is not None
            self._direct = s3_client(self.moto.endpoint, pool=16)
        return self._direct

    @property
    def floor_client(self) -> Any:
        """A warm boto3 client through the proxy: the floor every mount op is compared to."""
        if self._floor is None:
            assert self.proxy is not None
            self._floor = s3_client(self.proxy.endpoint)
        return self._floor

    # ----- backends -----

    def s3_backend(self, name: str) -> Backend:
        bucket = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        self.direct.create_bucket(Bucket=bucket)
        assert self.proxy is not None
        return Backend("s3", bucket, endpoint=self.proxy.endpoint)

    def local_backend(self, name: str) -> Backend:
        d = self.root / "local" / f"{name}-{uuid.uuid4().hex[:6]}"
        d.mkdir(parents=True)
        return Backend("local", str(d))

    def local_store(self, backend: Backend) -> Any:
        from tcfs.store.local import LocalStore

        return LocalStore(backend.bucket, backend.project)

    def seed(self, backend: Backend, items: Iterable[tuple[str, bytes]], threads: int = 8) -> int:
        """Put ``(project-relative key, body)`` pairs in place, in parallel."""
        items = list(items)
        if backend.kind == "s3":
            client = self.direct

            def put(kv: tuple[str, bytes]) -> None:
                client.put_object(
                    Bucket=backend.bucket, Key=f"{backend.project}/{kv[0]}", Body=kv[1]
                )
        else:
            # The local store's layout is <root>/<project>/<key>: plain files.
            base = Path(backend.bucket) / backend.project

            def put(kv: tuple[str, bytes]) -> None:
                path = base / kv[0]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(kv[1])

        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(put, items))
        return len(items)

    def get_json(self, backend: Backend, key: str) -> dict[str, Any] | None:
        """Read one record for verification (direct, uncounted)."""
        try:
            if backend.kind == "s3":
                resp = self.direct.get_object(Bucket=backend.bucket, Key=f"{backend.project}/{key}")
                return json.loads(resp["Body"].read())
            return json.loads(self.local_store(backend).get(key).body)
        except Exception:
            return None

    def note(self, text: str) -> None:
        self.log(f"note: {text}")
        self.notes.append(text)

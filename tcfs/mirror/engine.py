"""The upload loop for one stream, and the crash window it closes.

One part goes up in four steps:

1. **stage**: the redacted bytes go to a private spool file, then the state
   file records the intended part (key, seq, cursor before and after);
2. **upload**: the part is created with ``If-None-Match`` (parts are immutable);
3. **commit**: the digests of its lines are appended to the seen file and the
   state file moves the cursor past it and clears the intent;
4. **meta**: ``meta.json`` is rewritten from the state (no GET).

A kill at any point leaves either no intent (nothing was uploaded: the same
records are read again) or an intent, which the next start resolves by HEAD:
the part is there, so commit; or it is not, so the spooled bytes are uploaded
to the same key, then commit.  Either way no record is lost or repeated.  One
process mirrors a stream at a time (an ``flock`` on the stream's lock file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from tcfs.errors import NotFound
from tcfs.mirror.adapters.base import Adapter, SessionRef
from tcfs.mirror.cursor import REPLAY, Cursor, persistent, position
from tcfs.mirror.redact import Redactor
from tcfs.mirror.state import StateFile, StreamState, line_digest
from tcfs.protocol import records
from tcfs.protocol.sessions import (
    SessionWriter,
    add_part_to_meta,
    new_meta,
    parse_part_seq,
)
from tcfs.store.base import Store, public_endpoint

log = logging.getLogger(__name__)

_UNSET = object()
MAX_PARTS_PER_STEP = 64  # then yield to the other streams; the rest comes next step


def stream_identity(store: Store, harness: str, session_id: str) -> dict[str, Any]:
    return {
        "store": store.describe(),
        # the state file names the endpoint, never a password in its URL
        "endpoint": public_endpoint(getattr(store, "endpoint", None)),
        "bucket": store.bucket,
        "project": store.project,
        "harness": harness,
        "session": session_id,
    }


class StreamMirror:
    """Mirrors one session of one harness into one project."""

    def __init__(
        self,
        store: Store,
        adapter: Adapter,
        ref: SessionRef,
        *,
        agent_id: str | None = None,
        redact: bool = True,
        state_root: Path | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.adapter = adapter
        self.ref = ref
        self.agent_id = agent_id
        self.redact = redact
        self.echo = echo or (lambda _msg: None)
        self.writer = SessionWriter(store, adapter.name, ref.session_id)
        self.files = StateFile(stream_identity(store, adapter.name, ref.session_id), state_root)
        self.state: StreamState | None = None
        self._last_probe: Hashable = _UNSET
        self.uploaded = 0  # parts uploaded by this process

    @property
    def name(self) -> str:
        return f"{self.adapter.name}/{self.ref.session_id}"

    # ----- lifecycle -----

    def acquire(self) -> bool:
        """Take the stream's lock and load its state; False if another process
        is mirroring it."""
        if self.state is not None:
            return True
        if not self.files.try_lock():
            return False
        try:
            state = self.files.load()
            if state is None:
                state = self._state_from_bucket()
                self.files.save(state)
            elif state.pending is None:
                self.files.drop_spool()  # staged but never recorded: nothing was sent
            self.state = state
        except BaseException:
            self.files.unlock()
            raise
        return True

    def release(self) -> None:
        self.state = None
        self._last_probe = _UNSET
        self.files.unlock()

    def _state_from_bucket(self) -> StreamState:
        """No local state: continue after what the bucket already holds."""
        meta = self.writer.read_meta()
        next_seq = self.writer.next_seq()
        state = StreamState(next_seq=next_seq, meta=meta)
        if next_seq == 0:
            return state
        cursor = (meta or {}).get("cursor")
        if isinstance(cursor, dict) and (meta or {}).get("last_seq") == next_seq - 1:
            state.cursor = cursor
            state.redact = dict((meta or {}).get("redact_state") or {})
            return state
        # Parts we cannot place (another writer, or a lost meta): re-read the
        # source and drop every line the bucket already has.
        lines: list[bytes] = []
        for key in self.store.keys(self.writer.prefix):
            if parse_part_seq(key) is not None:
                lines.extend(self.store.get(key).body.splitlines(keepends=True))
        state.seen_count = self.files.append_seen(lines, 0)
        state.dedupe_all = True
        return state

    # ----- one step -----

    def step(
        self,
        *,
        force: bool = False,
        stop: Callable[[], bool] | None = None,
        max_parts: int | None = MAX_PARTS_PER_STEP,
        settle_below: int | None = None,
    ) -> int:
        """Upload whatever is new; returns the number of parts uploaded.

        Stops after ``max_parts`` parts (None: no limit) or, with
        ``settle_below``, after the first read smaller than that many bytes:
        the backlog is done and what follows is a writer being chased (a
        one-shot run must end even while the agent keeps writing).  Costs one
        probe (about a stat) and no bucket request when nothing changed."""
        if not self.acquire():
            return 0
        st = self.state
        assert st is not None
        done = 0
        if st.pending is not None:
            self._recover()
            done += 1
        if st.meta_dirty:
            self._write_meta()
        token = self.adapter.probe(self.ref)
        if not force and token is not None and token == self._last_probe:
            return done
        parts = 0
        while max_parts is None or parts < max_parts:
            parts += 1
            data, cursor = self.adapter.read_new(self.ref, st.cursor)
            replay = bool(cursor.get(REPLAY)) or st.dedupe_all
            cursor = persistent(cursor)
            if not data:
                changed = cursor != (st.cursor or {}) and bool(cursor)
                if changed or st.dedupe_all:
                    st.cursor = cursor or st.cursor
                    st.dedupe_all = False
                    self.files.save(st)
                self._last_probe = token
                return done
            out, counts, redact_state = self._transform(data, replay)
            if not out:
                st.cursor, st.redact = cursor, redact_state
                self.files.save(st)
                continue
            self._stage(out, len(data), counts, cursor, redact_state)
            self._upload()
            self._commit(out)
            done += 1
            if (stop is not None and stop()) or (
                settle_below is not None and len(data) < settle_below
            ):
                break
        return done  # more to read: the probe is left stale so the next step reads on

    def _transform(self, data: bytes, replay: bool) -> tuple[bytes, dict[str, int], dict[str, Any]]:
        st = self.state
        assert st is not None
        if self.redact:
            red = Redactor(st.redact)
            out, counts = red.redact(data)
            redact_state = red.state
        else:
            out, counts, redact_state = data, {}, st.redact
        if replay and out:
            seen = self.files.load_seen(st.seen_count)
            kept = []
            for line in out.splitlines(keepends=True):
                d = line_digest(line)
                if seen[d] > 0:
                    seen[d] -= 1
                else:
                    kept.append(line)
            out = b"".join(kept)
        return out, counts, redact_state

    # ----- the crash window -----

    def _stage(
        self,
        out: bytes,
        source_bytes: int,
        counts: dict[str, int],
        cursor: Cursor,
        redact_state: dict[str, Any],
    ) -> None:
        st = self.state
        assert st is not None
        seq = st.next_seq
        key = self.writer.new_part_key(seq)
        self.files.write_spool(out)
        st.pending = {
            "seq": seq,
            "key": key,
            "from": st.cursor,
            "to": cursor,
            "source_bytes": source_bytes,
            "uploaded_bytes": len(out),
            "redactions": counts,
            "redact": redact_state,
        }
        self.files.save(st)

    def _upload(self) -> None:
        st = self.state
        assert st is not None and st.pending is not None
        body = self.files.read_spool()
        if body is None or len(body) != st.pending["uploaded_bytes"]:
            raise RuntimeError(f"{self.name}: the spooled part is missing")
        self.writer.put_part(st.pending["key"], body)

    def _recover(self) -> None:
        """Resolve an intent left by a process that stopped mid-upload."""
        st = self.state
        assert st is not None and st.pending is not None
        p = st.pending
        body = self.files.read_spool()
        size = self.writer.part_size(p["key"])
        if size is None:
            if body is None or len(body) != p["uploaded_bytes"]:
                # Never uploaded and nothing to upload: forget the intent; the
                # cursor did not move, so the records are read again.
                st.pending = None
                self.files.save(st)
                return
            self.writer.put_part(p["key"], body)
        elif body is None or len(body) != size:
            try:
                body = self.store.get(p["key"]).body
            except NotFound:  # deleted under us: upload again is impossible
                st.pending = None
                self.files.save(st)
                return
        self.echo(f"{self.name}: resumed part {p['seq']:05d} after an interrupted upload")
        self._commit(body)

    def _commit(self, out: bytes) -> None:
        st = self.state
        assert st is not None and st.pending is not None
        p = st.pending
        st.seen_count = self.files.append_seen(out.splitlines(keepends=True), st.seen_count)
        st.cursor = p["to"]
        st.redact = p["redact"] or {}
        st.next_seq = p["seq"] + 1
        meta = st.meta or new_meta(self.adapter.name, self.ref.session_id)
        meta.update(
            {
                "harness": self.adapter.name,
                "session_id": self.ref.session_id,
                "source_path": self.ref.source,
                "cwd": self.ref.cwd,
                "agent_id": self.agent_id,
                "parent_session_id": self.ref.parent_id,
                "writer": "tcfs",
            }
        )
        add_part_to_meta(
            meta,
            {
                "seq": p["seq"],
                "uuid": p["key"].rsplit("-", 1)[-1].split(".", 1)[0],
                "cursor_range": [position(p["from"]), position(p["to"])],
                "source_bytes": p["source_bytes"],
                "uploaded_bytes": p["uploaded_bytes"],
                "redactions": p["redactions"],
            },
        )
        meta["last_seq"] = p["seq"]
        meta["cursor"] = p["to"]
        meta["redact_state"] = st.redact
        st.meta = meta
        st.meta_dirty = True
        st.pending = None
        self.files.save(st)
        self.files.drop_spool()
        self.uploaded += 1
        red = ", ".join(f"{k}={v}" for k, v in sorted(p["redactions"].items())) or "none"
        self.echo(
            f"{self.name}: part {p['seq']:05d} ({p['uploaded_bytes']} bytes, redactions: {red})"
        )
        self._write_meta()

    def _write_meta(self) -> None:
        st = self.state
        assert st is not None
        if st.meta is None:
            st.meta_dirty = False
            return
        self.writer.write_meta(st.meta)
        st.meta_dirty = False  # a restart rewrites it once more: harmless

    def mark_ended(self) -> None:
        """Stamp ``ended_at`` on the session's meta (only if it was mirrored)."""
        st = self.state
        if st is None or st.meta is None:
            return
        st.meta["ended_at"] = records.now_iso()
        self.files.save(st)
        self._write_meta()

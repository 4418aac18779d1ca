"""Messages: ``messages/<to>/<ns>_<from>_<uuid8>.json`` and ``messages/_broadcast/``.

The read cursor is the CLI's ``messages/<agent>/_cursor.json``
(``{direct|broadcast: {watermark, seen}}`` with a five-minute grace window), so
``inbox/next`` on a mount and ``tracecraft inbox --new`` share one read
position.  tcfs advances it with a compare-and-swap, so two readers of one
agent never both receive the same message.

Removing a broadcast hides it for this agent only (the peer's bug was deleting
it for everyone); the hidden set lives in ``messages/<agent>/_tcfs_hidden.json``,
a ``_`` leaf the CLI ignores.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from tcfs import names
from tcfs.errors import (
    CorruptObject,
    InvalidName,
    NotFound,
    TooLarge,
)
from tcfs.protocol import cas, keys, parallel, records
from tcfs.protocol.doorbells import Doorbells
from tcfs.protocol.holds import Holds
from tcfs.store.base import ObjectInfo, Store

MAX_MESSAGE = 1 << 20
CURSOR_GRACE_NS = 300 * 1_000_000_000  # the CLI's grace window
SEEN_CAP = 1000  # the CLI's cap on remembered keys
#: how late a message may land after its key's stamp (a retried PUT, skewed
#: clocks): the watermark passes a read key this old to keep ``seen`` under the cap
LATE_NS = 30 * 1_000_000_000
HIDDEN_CAP = 5000
_NAME_RE = re.compile(r"[0-9]{1,20}_[A-Za-z0-9_.-]{1,128}_[0-9a-f]{8}")
BROADCAST_PREFIX = keys.mailbox_prefix(keys.BROADCAST)
TS_WIDTH = 19  # digits of time.time_ns() until 2286: watermarks are padded to it
RELIST_S = 2.0  # how often a reader lists a mailbox whole, for messages landing late

log = logging.getLogger(__name__)


@dataclass
class Message:
    name: str
    key: str
    sender: str
    to: str
    text: str
    sent_at: str | None
    step: str | None
    broadcast: bool

    def render(self) -> bytes:
        return (self.text if self.text.endswith("\n") else self.text + "\n").encode()

    def summary(self) -> dict[str, Any]:
        """The message as one entry of ``inbox/unread``."""
        return {
            "name": self.name,
            "from": self.sender,
            "to": self.to,
            "sent_at": self.sent_at,
            "step": self.step,
            "broadcast": self.broadcast,
            "text": self.text,
        }


# ---------- the CLI's cursor arithmetic (tracecraft.protocol, 0.2.5) ----------


def load_stream(doc: dict[str, Any] | None, name: str, prefix: str | None = None) -> dict[str, Any]:
    v = (doc or {}).get(name)
    if isinstance(v, str):
        out: dict[str, Any] = {"watermark": v, "seen": []}
    elif isinstance(v, dict):
        seen = v.get("seen")
        wm = v.get("watermark")
        out = {
            "watermark": wm if isinstance(wm, str) else None,
            "seen": [k for k in seen if isinstance(k, str)] if isinstance(seen, list) else [],
        }
    else:
        return {"watermark": None, "seen": []}
    if prefix is not None and not _sane_watermark(out["watermark"], prefix):
        # A watermark outside the stream or in the future would hide every
        # message after it: drop it and re-read (at-least-once, like the CLI).
        out["watermark"] = None
    return out


def _sane_watermark(wm: str | None, prefix: str) -> bool:
    if wm is None:
        return True
    ts = keys.key_ts_ns(wm, prefix) if wm.startswith(prefix) else None
    return ts is not None and ts <= time.time_ns() + CURSOR_GRACE_NS


def unseen(listed: list[str], stream: dict[str, Any]) -> list[str]:
    seen = set(stream["seen"])
    wm = stream["watermark"]
    return [k for k in listed if (wm is None or k > wm) and k not in seen]


def advance(
    stream: dict[str, Any], consumed: list[str], prefix: str, *, keep: list[str] | None = None
) -> dict[str, Any]:
    """The stream after ``consumed`` was read; ``keep`` are keys still unread,
    which the new watermark must not pass (they are compared as strings)."""
    if not consumed:
        return stream
    known = sorted(set(stream["seen"]) | set(consumed))
    # A stamp from the future (a skewed or hostile sender) must not carry the
    # watermark past the messages still to come; such keys are kept in `seen`.
    latest = time.time_ns() + CURSOR_GRACE_NS
    stamps = [t for k in consumed if (t := keys.key_ts_ns(k, prefix)) is not None and t <= latest]
    horizon = max(stamps, default=0) - CURSOR_GRACE_NS
    # Padded to the key width: an unpadded shorter number sorts above real keys.
    watermark = f"{prefix}{horizon:0{TS_WIDTH}d}" if horizon > 0 else None
    if stream["watermark"] and (watermark is None or watermark < stream["watermark"]):
        watermark = stream["watermark"]
    if keep and watermark is not None and min(keep) <= watermark:
        watermark = stream["watermark"]  # an earlier message is still unread
    seen = [k for k in known if watermark is None or k > watermark]
    if len(seen) > SEEN_CAP:
        watermark = _fold(seen, watermark, prefix, min(keep) if keep else None)
        seen = [k for k in seen if watermark is None or k > watermark]
    return {"watermark": watermark, "seen": seen}


def _fold(seen: list[str], watermark: str | None, prefix: str, unread: str | None) -> str | None:
    """The watermark raised past the oldest read keys so that ``seen`` fits the
    CLI's cap, where that loses nothing: never to an unread key (``unread``, the
    oldest) nor to a key younger than ``LATE_NS`` (a message stamped before it
    may still land).  Where it cannot, ``seen`` stays longer than the cap: the
    CLI would trim the oldest and deliver them again, or deliver one forever."""
    latest = time.time_ns() - LATE_NS
    for key in reversed(seen[: len(seen) - SEEN_CAP]):
        ts = keys.key_ts_ns(key, prefix)
        if (unread is None or key < unread) and ts is not None and ts <= latest:
            return key
    return watermark


def _is_message_leaf(leaf: str) -> bool:
    return (
        keys.is_data_leaf(leaf)
        and leaf.endswith(keys.RECORD_SUFFIX)
        and _NAME_RE.fullmatch(leaf[: -len(keys.RECORD_SUFFIX)]) is not None
    )


def parse_message(key: str, doc: dict[str, Any]) -> Message:
    """The message a record under ``messages/`` holds; ``CorruptObject`` when
    a field has the wrong type."""
    broadcast = key.startswith(BROADCAST_PREFIX)
    prefix = BROADCAST_PREFIX if broadcast else keys.parent_prefix(key)
    text = doc.get("message", "")
    if not isinstance(text, str):
        text = str(text)
    sender = records.field(doc, "from", str, key, default=keys.key_sender(key, prefix) or "?")
    step = doc.get("step")
    return Message(
        name=keys.message_name(key),
        key=key,
        sender=sender,
        to=records.field(doc, "to", str, key, default=""),
        text=text,
        sent_at=records.field(doc, "sent_at", str, key),
        step=step if isinstance(step, str) else None,
        broadcast=broadcast,
    )


def mailbox_of(key: str) -> str | None:
    """The mailbox (an agent, or ``_broadcast``) whose message ``key`` is; None
    for any other key (bookkeeping, doorbells, waiters, foreign objects)."""
    if not key.startswith(keys.MESSAGES_ROOT):
        return None
    mailbox, _, leaf = key[len(keys.MESSAGES_ROOT) :].rpartition("/")
    return mailbox if mailbox and "/" not in mailbox and _is_message_leaf(leaf) else None


def _order(key: str, prefix: str) -> tuple[int, str]:
    return (keys.key_ts_ns(key, prefix) or 0, key[len(prefix) :])


@dataclass
class _Pending:
    """One look at the cursor and the mailboxes: what the cursor has not seen."""

    ckey: str
    doc: dict[str, Any] | None
    etag: str | None
    direct: dict[str, Any]
    bcast: dict[str, Any]
    keys: list[str]  # unread, oldest first
    skip: list[str]  # broadcasts never shown to this agent (its own, hidden)
    bodies: dict[str, bytes]  # messages already read with the look (a bell's hint)


class _Listing:
    """What one reader listed of a mailbox above the cursor's watermark, so
    its next look lists only keys after the newest: a burst of thousands
    within the grace window is not listed again on every read.  A message
    that lands behind the newest (stamped before a key listed already) is
    found by the listing from the watermark that comes every ``RELIST_S``,
    or at once when a doorbell names it (``add``)."""

    def __init__(self) -> None:
        self.watermark: str | None = None  # the cursor's, at the last look
        self.keys: list[str] = []  # listed, above that watermark, oldest first
        self.full_at = -RELIST_S  # time.monotonic() of the last listing from the watermark
        self._lock = threading.Lock()  # the readers of one mount share it

    def start(self) -> tuple[str | None, bool]:
        """Where the next listing starts, and whether that is the watermark.
        An odd stamp (from the future, or not 19 digits) sorts above the mail
        still to come: it is no place to start."""
        with self._lock:
            if time.monotonic() - self.full_at < RELIST_S:
                latest = time.time_ns() + CURSOR_GRACE_NS
                for key in reversed(self.keys):
                    head = key.rsplit("/", 1)[-1].split("_", 1)[0]
                    if len(head) == TS_WIDTH and head.isdigit() and int(head) <= latest:
                        return key, False
            return self.watermark, True

    def update(
        self, start: tuple[str | None, bool], got: list[str], watermark: str | None
    ) -> list[str] | None:
        """Take the listing from ``start``, made beside a read of the cursor
        that found ``watermark``; the keys above it, or None when the cursor
        went back past what was listed: list again from ``watermark``."""
        after, full = start
        with self._lock:
            if full:
                if after is not None and (watermark is None or after > watermark):
                    return None
                fresh, self.full_at = got, time.monotonic()
            else:
                if self.watermark is not None and (watermark is None or watermark < self.watermark):
                    return None
                fresh = sorted(set(self.keys).union(got))
            return self._keep(fresh, watermark)

    def relist(self, got: list[str], watermark: str | None) -> list[str]:
        """A listing from ``watermark``."""
        with self._lock:
            self.full_at = time.monotonic()
            return self._keep(got, watermark)

    def add(self, key: str) -> list[str]:
        """A key known to exist (a doorbell named it), listed or not."""
        with self._lock:
            if key not in self.keys and (self.watermark is None or key > self.watermark):
                self.keys = sorted([*self.keys, key])
            return self.keys

    def _keep(self, keys: list[str], watermark: str | None) -> list[str]:
        self.watermark = watermark
        self.keys = [k for k in keys if watermark is None or k > watermark]
        return self.keys


class Messages:
    def __init__(self, store: Store, agent: str, *, bells: Doorbells | None = None) -> None:
        self.store = store
        self.agent = names.agent_id(agent)
        self.bells = bells
        self.direct_prefix = keys.mailbox_prefix(self.agent)
        #: what readers of this process hold for a delivery under way
        self.holds = Holds()
        # each stream's listing (``_Listing``): the next one lists only what is new
        self._listings: dict[str, _Listing] = {}

    # ----- sending -----

    def send(self, to: str, text: str, *, step: str | None = None) -> Message:
        to = names.recipient(to)
        if step is not None:
            step = names.step_id(step)
        if len(text.encode()) > MAX_MESSAGE:
            raise TooLarge(f"a message is at most {MAX_MESSAGE} bytes")
        key = keys.append_key(keys.mailbox_prefix(to), self.agent)
        doc: dict[str, Any] = {
            "from": self.agent,
            "to": to,
            "message": text,
            "sent_at": records.now_iso(),
        }
        if step:
            doc["step"] = step
        self.store.put(key, records.encode(doc))
        if self.bells is not None:
            # after the write: a reader woken early would find nothing
            self.bells.ring(to, newest=key)
        return parse_message(key, doc)

    def rewrite(self, msg: Message, text: str) -> Message:
        """Replace the body of a message this agent is still writing."""
        if len(text.encode()) > MAX_MESSAGE:
            raise TooLarge(f"a message is at most {MAX_MESSAGE} bytes")
        doc: dict[str, Any] = {
            "from": self.agent,
            "to": msg.to,
            "message": text,
            "sent_at": msg.sent_at or records.now_iso(),
        }
        if msg.step:
            doc["step"] = msg.step
        self.store.put(msg.key, records.encode(doc))
        if self.bells is not None:
            self.bells.ring(msg.to)
        return parse_message(msg.key, doc)

    # ----- reading -----

    def _leaves(self, prefix: str, start_after: str | None = None) -> list[str]:
        # Only message-shaped leaves: bookkeeping (``_*``) and foreign objects
        # are neither shown nor consumed.
        return [
            e.key
            for e in self.store.list(prefix, start_after=start_after, delimiter="/")
            if isinstance(e, ObjectInfo) and _is_message_leaf(e.key[len(prefix) :])
        ]

    def _hidden(self) -> tuple[set[str], str | None]:
        k = keys.hidden_key(self.agent)
        try:
            blob = self.store.get(k)
        except NotFound:
            return set(), None
        try:
            doc = records.decode(blob.body, k)
        except CorruptObject as exc:  # show everything again; remove() rewrites it
            log.warning("%s: showing every broadcast", exc)
            return set(), blob.etag
        hidden = doc.get("broadcast")
        return {h for h in hidden if isinstance(h, str)} if isinstance(
            hidden, list
        ) else set(), blob.etag

    def _mine(self, key: str) -> bool:
        return keys.key_sender(key, BROADCAST_PREFIX) == self.agent

    def inbox(self) -> list[str]:
        hidden, _ = self._hidden()
        direct = self._leaves(self.direct_prefix)
        bcast = [k for k in self._leaves(BROADCAST_PREFIX) if k not in hidden and not self._mine(k)]
        merged = [(_order(k, self.direct_prefix), k) for k in direct]
        merged += [(_order(k, BROADCAST_PREFIX), k) for k in bcast]
        merged.sort()
        return [keys.message_name(k) for _, k in merged]

    def _check_name(self, name: str) -> str:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise InvalidName(f"{name!r} is not a message name (<ns>_<from>_<id8>)")
        return name

    def _locate(self, name: str) -> tuple[str, dict[str, Any]]:
        name = self._check_name(name)
        for prefix in (self.direct_prefix, BROADCAST_PREFIX):
            key = keys.message_key(prefix, name)
            try:
                blob = self.store.get(key)
            except NotFound:
                continue
            if prefix == BROADCAST_PREFIX and self._mine(key):
                break
            return key, records.decode(blob.body, key)
        raise NotFound(f"no message {name} in {self.agent}'s inbox")

    def read(self, name: str) -> Message:
        key, doc = self._locate(name)
        return parse_message(key, doc)

    def remove(self, name: str) -> None:
        key, _ = self._locate(name)
        if not key.startswith(BROADCAST_PREFIX):
            self.store.delete(key)
            return
        # A broadcast belongs to everyone: hide it for this agent only.
        for _ in cas.attempts(8, "the hidden-broadcast list"):
            hidden, etag = self._hidden()
            hidden.add(key)
            doc = {"broadcast": sorted(hidden)[-HIDDEN_CAP:], "updated_at": records.now_iso()}
            body = records.encode(doc)
            if (
                cas.put_if_unchanged(self.store, keys.hidden_key(self.agent), body, etag)
                is not None
            ):
                return

    # ----- the durable cursor -----

    def _read_cursor(self, ckey: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            blob = self.store.get(ckey)
        except NotFound:
            return None, None
        try:
            return records.decode(blob.body, ckey), blob.etag
        except CorruptObject as exc:  # a cursor we cannot read is still replaced by CAS
            log.warning("%s: reading %s's mail from the start", exc, self.agent)
            return None, blob.etag

    def _get_or_none(self, key: str) -> bytes | None:
        try:
            return self.store.get(key).body
        except NotFound:
            return None  # deleted since listing (or a hint that was never there)

    def _pending(self, *, broadcast: bool = True, hint: str | None = None) -> _Pending:
        """Read the cursor and list what it has not seen, oldest first.

        The cursor's read, the listings and the GET of ``hint`` (a bell's
        newest message) travel together: each listing starts after the
        newest key this reader listed, or (``_Listing``) after the watermark
        it saw last, which is never past the cursor's (watermarks only grow);
        a cursor that went back is listed again.
        ``broadcast=False`` leaves the broadcasts unlisted (and unconsumed).
        """
        ckey = keys.cursor_key(self.agent)
        together = self.store.round_trips
        prefixes = [self.direct_prefix] + ([BROADCAST_PREFIX] if broadcast else [])
        listings = {pfx: self._listings.setdefault(pfx, _Listing()) for pfx in prefixes}
        after = {pfx: listings[pfx].start() for pfx in prefixes}
        if hint is not None and not any(
            hint.startswith(pfx) and _is_message_leaf(hint[len(pfx) :]) for pfx in prefixes
        ):
            hint = None  # a bell names only a message of a mailbox read here
        lists = {
            pfx: parallel.start(
                functools.partial(self._leaves, pfx, after[pfx][0]), together=together
            )
            for pfx in prefixes
        }
        hinted = (
            parallel.start(functools.partial(self._get_or_none, hint), together=together)
            if hint
            else None
        )
        try:
            doc, etag = self._read_cursor(ckey)
        finally:
            parallel.settle([*lists.values(), *([hinted] if hinted else [])])
        direct = load_stream(doc, "direct", self.direct_prefix)
        bcast = load_stream(doc, "broadcast", BROADCAST_PREFIX)
        listed: dict[str, list[str]] = {}
        for pfx, stream in ((self.direct_prefix, direct), (BROADCAST_PREFIX, bcast)):
            if pfx not in lists:
                continue
            wm = stream["watermark"]
            got = listings[pfx].update(after[pfx], lists[pfx].result(), wm)
            listed[pfx] = (
                got if got is not None else listings[pfx].relist(self._leaves(pfx, wm), wm)
            )
        body = hinted.result() if hinted is not None else None
        if hint is not None and body is not None:  # a bell named it: it is there
            pfx = next(p for p in prefixes if hint.startswith(p))
            listed[pfx] = listings[pfx].add(hint)
        d_new = unseen(listed[self.direct_prefix], direct)
        b_new = unseen(listed.get(BROADCAST_PREFIX, []), bcast)
        hidden, _ = self._hidden() if b_new else (set(), None)
        skip = [k for k in b_new if self._mine(k) or k in hidden]
        b_new = [k for k in b_new if k not in skip]
        cands = [(_order(k, self.direct_prefix), k) for k in d_new]
        cands += [(_order(k, BROADCAST_PREFIX), k) for k in b_new]
        return _Pending(
            ckey,
            doc,
            etag,
            direct,
            bcast,
            [k for _, k in sorted(cands)],
            skip,
            {hint: body} if hint and body is not None else {},
        )

    def _consume(self, p: _Pending, taken: list[str]) -> bool:
        """Advance the cursor past ``taken`` (and the skipped broadcasts) by CAS.

        The watermark never passes a message still unread, so acknowledging
        a later message first cannot hide an earlier one.
        """
        new = dict(p.doc or {})
        for name, stream, prefix in (
            ("direct", p.direct, self.direct_prefix),
            ("broadcast", p.bcast, BROADCAST_PREFIX),
        ):
            done = [k for k in taken if k.startswith(prefix)]
            if prefix == BROADCAST_PREFIX:
                done += p.skip
            left = [k for k in p.keys if k.startswith(prefix) and k not in done]
            new[name] = advance(stream, done, prefix, keep=left)
        new["updated_at"] = records.now_iso()
        return self._put_cursor(p.ckey, new, p.etag)

    def next_unread(self) -> Message | None:
        """Consume the oldest message the cursor has not seen and no other
        reader of this process holds (``holds``), or return None."""
        return self.take_next()[0]

    def take_next(
        self, *, broadcast: bool = True, hint: str | None = None
    ) -> tuple[Message | None, bool]:
        """``next_unread``, for a reader that knows more: ``hint`` is the key a
        bell named (read with the look, so a rung bell costs two round trips:
        the look, then the cursor's compare-and-swap); ``broadcast=False`` when
        no broadcast can be new.  Also tells whether more unread messages
        were listed: when not, the caller need not look again until a bell rings.
        """
        for _ in cas.attempts(16, "the read cursor"):
            p = self._pending(broadcast=broadcast, hint=hint)
            key = next((k for k in p.keys if self._take(k)), None)
            if key is None:
                if p.skip:  # remember skipped broadcasts so they are not re-listed
                    self._consume(p, [])
                return None, False
            consumed = False
            try:
                body = p.bodies[key] if key in p.bodies else self._get_or_none(key)
                consumed = self._consume(p, [key])
            finally:
                settle = self.holds.delivered if consumed else self.holds.release
                settle([keys.message_name(key)])
            if not consumed:
                continue  # another reader moved the cursor: look again
            if body is None:
                continue  # deleted since listing: consumed, look again
            return parse_message(key, records.decode(body, key)), len(p.keys) > 1
        raise AssertionError("unreachable")  # cas.attempts raises when they run out

    def _take(self, key: str) -> bool:
        return bool(self.holds.take([keys.message_name(key)], consuming=True))

    def unread(
        self, limit: int | None = None, *, reserve: bool = False, owner: int | None = None
    ) -> list[Message]:
        """The messages the cursor has not seen and no reader of this process
        holds, oldest first, without consuming them.

        With ``ack`` this is the peek-then-acknowledge pair: a reader that
        must not lose a message (a hook writing into an agent's context)
        acknowledges only what it delivered.  ``reserve`` holds what is
        returned (``holds``) until it is acknowledged or the hold
        lapses (or the process ``owner`` is gone), so no other reader
        of this process delivers it meanwhile.
        """
        out: list[Message] = []
        for key in self._pending().keys:
            if limit is not None and len(out) >= limit:
                break
            name = keys.message_name(key)
            if reserve:
                if not self.holds.take([name], owner=owner):
                    continue
            elif self.holds.holds(name):
                continue
            msg = self._fetch(key)
            if msg is not None:
                out.append(msg)
            elif reserve:
                self.holds.release([name])
        return out

    def reserve_unread(self, limit: int | None = None, owner: int | None = None) -> list[Message]:
        """``unread(limit, reserve=True, owner=owner)``: what a hook reads."""
        return self.unread(limit, reserve=True, owner=owner)

    def _fetch(self, key: str) -> Message | None:
        try:
            return parse_message(key, records.decode(self.store.get(key).body, key))
        except NotFound:
            return None  # deleted since listing
        except CorruptObject as exc:
            log.warning("%s: not shown", exc)
            return None

    def ack(self, names: list[str]) -> list[str]:
        """Mark exactly the named messages read (a compare-and-swap on the cursor).

        Returns the names that were still unread; names already read, or not
        in this inbox, are ignored, so acknowledging twice is harmless.
        """
        wanted = {self._check_name(n) for n in names}
        for _ in cas.attempts(16, "the read cursor"):
            p = self._pending()
            taken = [k for k in p.keys if k.rsplit("/", 1)[1][: -len(".json")] in wanted]
            if not taken and not p.skip:
                self.holds.delivered(wanted)  # read already: the holds end
                return []
            if self._consume(p, taken):
                self.holds.delivered(wanted)
                return [k.rsplit("/", 1)[1][: -len(".json")] for k in taken]
        raise AssertionError("unreachable")  # cas.attempts raises when they run out

    def _put_cursor(self, ckey: str, doc: dict[str, Any], etag: str | None) -> bool:
        return cas.put_if_unchanged(self.store, ckey, records.encode(doc), etag) is not None

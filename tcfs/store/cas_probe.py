"""The proof, before a mount serves, that a store enforces conditional writes.

Claims, leases and the read cursor are compare-and-swaps: on a store that
ignores ``If-None-Match`` or ``If-Match`` on PUT (Garage 2.0 overwrites,
older SeaweedFS and versitygw let several writers win) or refuses them
(Backblaze B2's ``NotImplemented``), two agents both win a claim and nothing
says so.  ``verify`` writes one probe object under ``_tcfs_probe/`` (a ``_``
key the tracecraft CLI ignores) four times and deletes it: a create, a second
create that must be refused, a write with the current ETag, one with the stale
ETag that must be refused.  Six requests at most, one at a time (the S3 store
reads the object after a refused write): it shows that the
store enforces the conditions at all, not that it decides a race atomically
(``tcfs doctor`` races 16 writers for that).

A store that passed is remembered per backend, endpoint and bucket for
``REMEMBER_S`` in a small file under the user's tcfs home, so warm mounts pay
no request for it.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path

from tcfs.errors import PreconditionFailed, TcfsError, Unsupported
from tcfs.store.base import Store

PROBE_PREFIX = "_tcfs_probe/"
REMEMBER_S = 24 * 3600.0
#: the environment variable behind ``tcfs mount --trust-store-cas``
TRUST_ENV = "TCFS_TRUST_STORE_CAS"

log = logging.getLogger(__name__)


def verify(store: Store) -> str | None:
    """None when ``store`` enforces both conditions on PUT; else what it did."""
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        first = store.put(key, b"probe 1", if_none_match=True)
        try:
            store.put(key, b"probe 2", if_none_match=True)
            return "a second If-None-Match create of one key was accepted (a claim overwrites)"
        except PreconditionFailed:
            pass
        store.put(key, b"probe 3", if_match=first)
        try:
            store.put(key, b"probe 4", if_match=first)
            return "a write with a stale If-Match ETag was accepted (a lost lease is renewed)"
        except PreconditionFailed:
            return None
    except Unsupported as exc:
        return f"conditional writes are refused: {exc}"
    except PreconditionFailed as exc:
        return f"a write with the current ETag was refused: {exc}"
    finally:
        try:
            store.delete(key)
        except TcfsError as exc:  # a probe left behind is harmless: it is a `_` key
            log.warning("could not remove the probe %s: %s", key, exc)


class Verified:
    """Stores that passed ``verify`` lately, in one JSON file: {target: unix time}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, float]:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict):
            return {}
        return {k: v for k, v in doc.items() if isinstance(v, (int, float))}

    def recent(self, target: str) -> bool:
        return time.time() - self._load().get(target, 0.0) < REMEMBER_S

    def remember(self, target: str) -> None:
        now = time.time()
        doc = {k: t for k, t in self._load().items() if now - t < REMEMBER_S}
        doc[target] = now
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, self.path)
        except OSError as exc:  # the next mount probes again
            log.warning("could not remember the verified store: %s", exc)


def refusal(store: Store, target: str, remembered: Path, *, trust: bool) -> str | None:
    """Why a mount must not serve on ``store``, or None: it enforces conditional
    writes (remembered in ``remembered``, a ``Verified`` file, under the name
    ``target``), or the user trusts it (then a warning is logged)."""
    verified = Verified(remembered)
    if verified.recent(target):
        return None
    try:
        problem = verify(store)
    except TcfsError as exc:
        problem = f"the probe failed: {exc}"
    if problem is None:
        verified.remember(target)
        return None
    what = f"{target} does not enforce conditional writes: {problem}; claims would not be exact"
    if trust:
        log.warning("%s (serving anyway: --trust-store-cas)", what)
        return None
    return (
        f"{what}. Use a store that enforces If-None-Match and If-Match on PUT (`tcfs doctor` "
        f"checks one), or mount anyway with --trust-store-cas ({TRUST_ENV}=1)"
    )

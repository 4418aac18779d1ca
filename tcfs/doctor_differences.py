"""How an S3 server departs from AWS, probed live, and what each departure means.

``tcfs doctor`` runs these after the safety checks on an ``s3`` backend.  A
departure is not a failure: tcfs stays correct on every one listed here, and
the report says what it costs or what agents will notice.  The probes send raw
requests (no retry, no read-back), so they see the server's own answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tcfs.store.s3 import S3Store, keeps_empty_prefixes

#: a same-key race slower than this is reported
SLOW_RACE_S = 1.0

#: (name, ok, detail, difference)
Emit = Callable[[str, bool, str, bool], None]

# keys whose byte order differs from a directory tree's order: "/" sorts after "-" and "."
_ORDER_PROBE = ("a-b.json", "a.json", "a/x.json", "a0.json")


def probe(store: S3Store, base: str, emit: Emit) -> None:
    """Every probe under ``base/`` (the caller removes the keys)."""
    _missing_key_answers(store, base, emit)
    _listing(store, base, emit)
    _emptied_folder(store, base, emit)


def report_race(seconds: float, contenders: int, emit: Emit) -> None:
    if seconds <= SLOW_RACE_S:
        return
    emit(
        "same-key contention",
        True,
        f"{contenders} contenders on one key took {seconds:.1f} s: a claim that many agents "
        "race for takes seconds on this server (still exactly one winner); spread work over "
        "more steps",
        True,
    )


def _missing_key_answers(store: S3Store, base: str, emit: Emit) -> None:
    key = f"{base}/missing"
    status, _ = store.raw("put_object", Key=key, Body=b"x", IfMatch='"0"')
    _say_missing(emit, "If-Match write on a missing key", status)
    status, _ = store.raw("delete_object", Key=key, IfMatch='"0"')
    _say_missing(emit, "conditional delete of a missing key", status)


def _say_missing(emit: Emit, name: str, status: int) -> None:
    if status == 404:
        emit(name, True, "404, as AWS", False)
    elif status == 412:
        emit(
            name,
            True,
            "answers 412 where AWS answers 404: tcfs reads the key back to tell a lost race from "
            "a missing key (one more GET on such an answer); agents see the same errors as on AWS",
            True,
        )
    else:
        emit(name, True, f"answers HTTP {status} (AWS: 404): tcfs reads the key back", True)


def _listed(store: S3Store, resp: dict[str, Any]) -> list[str]:
    return [str(o["Key"])[store.strip :] for o in resp.get("Contents", ())]


def _listing(store: S3Store, base: str, emit: Emit) -> None:
    folder = f"{base}/order/"
    for leaf in _ORDER_PROBE:
        store.put(folder + leaf, leaf.encode())
    _, resp = store.raw("list_objects_v2", Prefix=folder)
    got = [k[len(folder) :] for k in _listed(store, resp)]
    if got == sorted(_ORDER_PROBE, key=lambda k: k.encode()):
        emit("listing order", True, "keys come in byte order, as AWS", False)
    else:
        emit(
            "listing order",
            True,
            f"keys come out of byte order ({', '.join(got)}): tcfs sorts each page itself; "
            "flat folders (mailboxes, memory, history) are unaffected",
            True,
        )
    _, resp = store.raw("list_objects_v2", Prefix=folder, StartAfter=folder + "a.json")
    after = [k[len(folder) :] for k in _listed(store, resp)]
    if "a/x.json" in after:
        emit("StartAfter", True, "a folder's keys after the start key are listed, as AWS", False)
    else:
        emit(
            "StartAfter",
            True,
            "skips a folder's keys after StartAfter when the folder's name prefixes the start key "
            "(a/x.json after a.json): tcfs starts its listings a little earlier and filters them "
            "itself, so no key is lost",
            True,
        )


def _emptied_folder(store: S3Store, base: str, emit: Emit) -> None:
    folder = f"{base}/empty/"
    store.put(folder + "gone/x.json", b"x")
    store.delete(folder + "gone/x.json")
    _, resp = store.raw("list_objects_v2", Prefix=folder, Delimiter="/")
    kept = [p["Prefix"] for p in resp.get("CommonPrefixes", ())]
    if not kept:
        emit("emptied folder", True, "disappears from listings, as AWS", False)
    elif keeps_empty_prefixes(resp):
        emit(
            "emptied folder",
            True,
            "stays listed as a CommonPrefix after its last key is deleted: tcfs checks each "
            "listed folder with a one-key LIST on this server, so ls shows no empty directories "
            "(one more LIST per folder shown)",
            True,
        )
    else:
        emit(
            "emptied folder",
            True,
            "stays listed as a CommonPrefix after its last key is deleted, and tcfs does not "
            "recognise this server: ls may show an emptied memory namespace or artifact scope "
            "as an empty directory (no data is wrong)",
            True,
        )

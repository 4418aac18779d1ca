"""``tcfs doctor``: prove a backend is safe to coordinate on, with a live race.

Each check is one line.  The probe keys live under
``<project>/.tcfs-doctor/<uuid>/`` and are removed at the end.  The verdict is
SAFE only when the backend reached, accepted the credentials, and *enforced*
every condition: exactly one of N concurrent ``If-None-Match`` creators won, a
stale ``If-Match`` write was refused, and a stale conditional delete was
refused.  A backend that ignores conditions (several winners) is UNSAFE.
A backend that never got to answer is not judged: MISCONFIGURED (no bucket,
no or refused credentials, a bad setting) or UNREACHABLE (nothing answered at
the endpoint), each with its own exit code and a line saying what to fix.
On an S3 server the doctor then reports each way the server departs from AWS
(``doctor_differences``): tcfs stays correct on each, and the line says what
it means for agents.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tcfs.errors import (
    AccessDenied,
    BackendUnavailable,
    ConfigError,
    NoCredentials,
    NotFound,
    PreconditionFailed,
    StoreTimeout,
    TcfsError,
    Unsupported,
)
from tcfs.protocol.steps import SKEW_REFUSE_S, SKEW_WARN_S
from tcfs.store.base import Store, best_effort_warning, public_endpoint

PROBE_DIR = ".tcfs-doctor"
#: ``--abort-uploads`` leaves younger uploads alone: they may still be running
STALE_UPLOAD_S = 3600.0

#: ``tcfs doctor``'s exit code for each verdict (2 is bad usage)
EXIT_CODES = {"SAFE": 0, "UNSAFE": 1, "MISCONFIGURED": 3, "UNREACHABLE": 4}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    #: the server departs from AWS here; tcfs stays correct, the detail says what it means
    difference: bool = False


@dataclass
class Report:
    target: str
    checks: list[Check] = field(default_factory=list)
    verdict: str = "UNSAFE"
    reason: str = ""
    #: what to do about a MISCONFIGURED or UNREACHABLE verdict
    fix: str = ""

    @property
    def safe(self) -> bool:
        return self.verdict == "SAFE"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "safe": self.safe}


class _Stop(Exception):
    """A check failed in a way that makes the rest meaningless."""


def _explain(exc: BaseException) -> str:
    if isinstance(exc, (BackendUnavailable, StoreTimeout)):
        return f"cannot reach the backend: {exc}"
    if isinstance(exc, AccessDenied):
        return str(exc)
    if isinstance(exc, NotFound):
        return f"not found: {exc}"
    return str(exc)


def run(
    store: Store,
    *,
    contenders: int = 16,
    emit: Callable[[Check], None] | None = None,
) -> Report:
    """Run every check against ``store``; ``emit`` sees each check as it ends."""
    report = Report(target=store.describe())
    base = f"{PROBE_DIR}/{uuid.uuid4().hex}"

    def note(name: str, ok: bool, detail: str, difference: bool = False) -> None:
        check = Check(name, ok, detail, difference)
        report.checks.append(check)
        if emit is not None:
            emit(check)

    def record(name: str, ok: bool, detail: str) -> None:
        note(name, ok, detail)
        if not ok:
            raise _Stop(detail)

    try:
        _basic(store, base, record)
        _clock(store, note)
        warning = best_effort_warning(type(store))
        if warning:
            record("conditional writes", False, warning)
        race_s = _race(store, base, contenders, record)
        _stale_if_match(store, base, record)
        _differences(store, base, contenders, race_s, note)
        report.verdict = "SAFE"
        report.reason = "conditional writes are enforced: claims and leases are exact"
    except _Stop as stop:
        report.reason = str(stop)
        # a check that failed on a store error raised _Stop while handling it
        _judge_failure(report, stop.__context__, _Where.of(store))
    except TcfsError as exc:  # an unexpected store failure mid-check
        report.checks.append(Check("backend", False, _explain(exc)))
        if emit is not None:
            emit(report.checks[-1])
        report.reason = _explain(exc)
        _judge_failure(report, exc, _Where.of(store))
    finally:
        if any(c.name == "reach" and c.ok for c in report.checks):
            _cleanup(store, base, report, emit)
    return report


@dataclass(frozen=True)
class _Where:
    """What a fix line names: the backend, its bucket and its endpoint (never
    a password in its URL)."""

    kind: str
    bucket: str
    endpoint: str | None

    @classmethod
    def of(cls, store: Store) -> _Where:
        return cls(store.kind, store.bucket, public_endpoint(getattr(store, "endpoint", None)))


def setup_failed(
    target: str, exc: TcfsError, kind: str, bucket: str, endpoint: str | None
) -> Report:
    """The report when the store could not even be opened (a bad setting)."""
    report = Report(target=target, checks=[Check("setup", False, str(exc))], reason=str(exc))
    _judge_failure(report, exc, _Where(kind, bucket, public_endpoint(endpoint)))
    return report


def _judge_failure(report: Report, exc: BaseException | None, where: _Where) -> None:
    """MISCONFIGURED or UNREACHABLE when the store never got to answer (else
    the verdict stays UNSAFE: the store answered and failed a check)."""
    if isinstance(exc, (BackendUnavailable, StoreTimeout)):
        report.verdict = "UNREACHABLE"
        report.fix = _unreachable_fix(where)
        return
    fix = _misconfigured_fix(exc, where, reaching=report.checks[-1].name in ("reach", "setup"))
    if fix:
        report.verdict = "MISCONFIGURED"
        report.fix = fix


def _unreachable_fix(where: _Where) -> str:
    at = where.endpoint or f"the {where.kind} backend's default endpoint"
    return (
        f"nothing answered at {at} (connection refused, timed out, or the name did not "
        "resolve): start the server, or correct --endpoint / TCFS_ENDPOINT"
    )


def _misconfigured_fix(exc: BaseException | None, where: _Where, *, reaching: bool) -> str:
    """The fix for a setting the store refused, or "" if ``exc`` is not one."""
    if isinstance(exc, NotFound) and reaching:  # listing the project can only miss the bucket
        return f"create the bucket: {_create_bucket_command(where)}"
    if isinstance(exc, NoCredentials):
        return (
            "give S3 credentials: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE=<a profile in ~/.aws/credentials>; `tcfs init --save-secrets` then "
            "keeps the exported keys in the config (mode 0600)"
        )
    if isinstance(exc, AccessDenied):
        if where.kind == "hf":
            return "check HF_TOKEN (or `hf auth login`) and that the token may write the bucket"
        return (
            "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) "
            "and that the bucket policy lets them list, read, write and delete"
        )
    if isinstance(exc, ConfigError):
        return (
            "correct that setting (an option, its TCFS_* variable, or the config `tcfs init` "
            "writes); --endpoint is a URL such as http://127.0.0.1:9000"
        )
    return ""


def _create_bucket_command(where: _Where) -> str:
    if where.kind == "hf":
        return f"hf buckets create {where.bucket}"
    if where.kind == "local":
        return f"mkdir -p {where.bucket}"
    endpoint = f" --endpoint-url {where.endpoint}" if where.endpoint else ""
    return f"aws s3 mb s3://{where.bucket}{endpoint}"


def _clock(store: Store, note: Callable[[str, bool, str], None]) -> None:
    """This machine's clock against the store's (the answers' Date so far)."""
    skew = store.clock.offset
    seen = store.clock.describe_skew()
    if skew is None or abs(skew) <= SKEW_WARN_S:
        note("clock", True, f"{seen}; leases do not depend on it")
        return
    refuse = abs(skew) > SKEW_REFUSE_S
    note(
        "clock",
        False,
        f"{seen}: fix this machine's clock.  Leases are judged on the store's clock, but a "
        f"mount here warns (over {SKEW_WARN_S:g} s)"
        + (f" and refuses to take over leases (over {SKEW_REFUSE_S:g} s)" if refuse else ""),
    )


def _basic(store: Store, base: str, record: Callable[[str, bool, str], None]) -> None:
    try:
        next(iter(store.list(f"{PROBE_DIR}/")), None)
    except TcfsError as exc:
        record("reach", False, _explain(exc))
    record("reach", True, f"listed {store.describe()}")

    key = f"{base}/probe"
    body = b"tcfs doctor probe " + uuid.uuid4().hex.encode()
    try:
        etag = store.put(key, body)
        blob = store.get(key)
        if blob.body != body:
            record("read/write", False, "read back different bytes than were written")
        store.delete(key)
        gone = not store.exists(key)
    except TcfsError as exc:
        record("read/write", False, _explain(exc))
    if not gone:
        record("read/write", False, "a deleted probe is still there")
    record("read/write", True, f"put, get and delete of a probe work (ETag {etag})")


def _differences(
    store: Store,
    base: str,
    contenders: int,
    race_s: float,
    note: Callable[[str, bool, str, bool], None],
) -> None:
    """Where an S3 server departs from AWS (informational: tcfs copes with each)."""
    if store.kind != "s3":
        return
    from tcfs import doctor_differences
    from tcfs.store.s3 import S3Store

    assert isinstance(store, S3Store)
    doctor_differences.report_race(race_s, contenders, note)
    try:
        doctor_differences.probe(store, f"{base}/differences", note)
    except TcfsError as exc:
        note("differences", True, f"could not probe how this server departs from AWS: {exc}", True)


def _race(
    store: Store, base: str, contenders: int, record: Callable[[str, bool, str], None]
) -> float:
    """The race; returns how long it took, in seconds."""
    key = f"{base}/race"
    barrier = threading.Barrier(contenders)
    lock = threading.Lock()
    winners: list[int] = []
    losers: list[int] = []
    errors: list[TcfsError] = []

    def contender(i: int) -> None:
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        try:
            store.put(key, f"contender {i}".encode(), if_none_match=True)
            with lock:
                winners.append(i)
        except PreconditionFailed:
            with lock:
                losers.append(i)
        except TcfsError as exc:
            with lock:
                errors.append(exc)

    threads = [
        threading.Thread(target=contender, args=(i,), daemon=True) for i in range(contenders)
    ]
    for t in threads:
        t.start()
    started = time.monotonic()
    for t in threads:
        t.join(timeout=120)
    took = time.monotonic() - started
    name = f"If-None-Match race ({contenders} contenders)"
    if any(t.is_alive() for t in threads):
        record(name, False, "contenders did not finish within 120 s")
    if errors:
        unsupported = next((e for e in errors if isinstance(e, Unsupported)), None)
        detail = str(unsupported) if unsupported else _explain(errors[0])
        record(name, False, f"{len(errors)} of {contenders} contenders failed: {detail}")
    if len(winners) != 1:
        record(
            name,
            False,
            f"{len(winners)} of {contenders} contenders won an If-None-Match create: "
            "the backend ignores the condition",
        )
    try:
        stored = store.get(key).body
    except TcfsError as exc:
        record(name, False, _explain(exc))
    if stored != f"contender {winners[0]}".encode():
        record(name, False, "the stored object is not the winner's")
    record(name, True, f"exactly one winner, {len(losers)} refused ({took:.1f} s)")
    return took


def _stale_if_match(store: Store, base: str, record: Callable[[str, bool, str], None]) -> None:
    key = f"{base}/cas"
    try:
        first = store.put(key, b"version 1")
        second = store.put(key, b"version 2", if_match=first)
    except Unsupported as exc:
        record("If-Match write", False, str(exc))
    except PreconditionFailed:
        record("If-Match write", False, "a write with the current ETag was refused")
    except TcfsError as exc:
        record("If-Match write", False, _explain(exc))
    try:
        store.put(key, b"stale writer", if_match=first)
        record(
            "If-Match write",
            False,
            "a write with a stale ETag was accepted: the backend ignores If-Match",
        )
    except PreconditionFailed:
        pass
    except TcfsError as exc:
        record("If-Match write", False, _explain(exc))
    record("If-Match write", True, "current ETag accepted, stale ETag refused")

    try:
        store.delete(key, if_match=first)
        record(
            "conditional delete",
            False,
            "a delete with a stale ETag removed the object: "
            "the backend ignores If-Match on DELETE, so releases are not safe",
        )
    except PreconditionFailed:
        pass
    except Unsupported as exc:
        record("conditional delete", False, str(exc))
    except TcfsError as exc:
        record("conditional delete", False, _explain(exc))
    try:
        store.delete(key, if_match=second)
        still = store.exists(key)
    except TcfsError as exc:
        record("conditional delete", False, _explain(exc))
    if still:
        record("conditional delete", False, "a delete with the current ETag left the object")
    record("conditional delete", True, "stale ETag refused, current ETag deleted")


def abort_stale_uploads(
    store: Store,
    report: Report,
    emit: Callable[[Check], None] | None,
    older_than_s: float = STALE_UPLOAD_S,
) -> None:
    """``tcfs doctor --abort-uploads``: abort the project's incomplete multipart
    uploads begun more than ``older_than_s`` ago (whoever began them: a mount
    aborts only its own agent's, at its next start)."""
    try:
        gone = store.abort_stale_uploads(older_than_s)
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        check = Check(
            "incomplete uploads",
            True,
            f"aborted {len(gone)} begun more than {older_than_s:g} s ago"
            + (f": {shown}" if gone else ""),
        )
    except TcfsError as exc:
        check = Check("incomplete uploads", False, f"could not abort them: {_explain(exc)}")
    report.checks.append(check)
    if emit is not None:
        emit(check)


def _cleanup(store: Store, base: str, report: Report, emit: Callable[[Check], None] | None) -> None:
    try:
        keys = list(store.keys(f"{base}/"))
        for key in keys:
            store.delete(key)
        check = Check("cleanup", True, f"removed {len(keys)} probe object(s)")
    except TcfsError as exc:
        check = Check("cleanup", False, f"could not remove probes under {base}/: {exc}")
    report.checks.append(check)
    if emit is not None:
        emit(check)

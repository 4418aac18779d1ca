"""Per-operation latency: the mount (three ways), the peer CLI, and a warm boto3 floor.

Every instance of an operation touches its own key (a fresh memory key, a fresh
step, ...), so the kernel's and the daemon's caches cannot answer for the
bucket; the request count per operation (counted at the proxy) shows what each
way really sent.  Reading the inbox is the exception: it reads the same three
messages each time, as an agent re-reading its inbox does.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.context import (
    Ctx,
    claim_doc,
    memory_doc,
    message_doc,
    message_key,
    status_doc,
)
from bench.mounts import Backend, Mount
from bench.procs import base_env
from bench.servers import S3_ENV
from bench.shell import Coproc, run_bash, run_quiet
from bench.stats import summary
from tcfs.protocol import keys

AGENT = "bench-a"
PEER = "bench-b"
HOLDER = "holder"

OPS = [
    "memory read",
    "memory set",
    "claim fresh step",
    "lose a claim",
    "send message",
    "read inbox (3 msgs)",
    "step status",
]
WAYS = {
    "bash": "mount: bash -c",
    "coproc": "mount: bash coproc",
    "sys": "mount: syscalls",
    "cli": "peer CLI",
    "floor": "floor (warm boto3)",
}
WARMUP = 2
PROF_N = 120  # instances of the worst op replayed under the profiler
INBOX_SIZE = 3

Op = Callable[[int], bool]


# ----- seeding -----


def seed_items(ways: dict[str, int]) -> list[tuple[str, bytes]]:
    """Records for ``n`` instances (plus warm-up) of every op, per way code."""
    items: list[tuple[str, bytes]] = []
    for w, n in ways.items():
        for i in range(n + WARMUP):
            items.append((keys.memory_key(("lat", f"{w}{i}")), memory_doc(f"value {w}{i}")))
            items.append((keys.claim_key(f"h-{w}-{i}"), claim_doc(HOLDER)))
            items.append((keys.claim_key(f"s-{w}-{i}"), claim_doc(HOLDER)))
            items.append((keys.status_key(f"s-{w}-{i}"), status_doc(HOLDER)))
    # memory/set/ must exist as a directory before `echo v > memory/set/x`
    items.append((keys.memory_key(("set", "seed")), memory_doc("seed")))
    for k in range(INBOX_SIZE):
        items.append((message_key(AGENT, "seed"), message_doc("seed", AGENT, f"hello {k}")))
    return items


# ----- the mount, three ways -----


def shell_ops(mnt: Path, w: str) -> dict[str, str]:
    """Shell command templates (``{i}`` = instance) for each op."""
    m = shlex.quote(str(mnt))
    return {
        "memory read": f"cat {m}/memory/lat/{w}{{i}}",
        "memory set": f"echo v{{i}} > {m}/memory/set/{w}{{i}}",
        "claim fresh step": f"echo {AGENT} > {m}/steps/c-{w}-{{i}}/claim",
        "lose a claim": f"echo {AGENT} > {m}/steps/h-{w}-{{i}}/claim",
        "send message": f"echo hello {{i}} > {m}/outbox/{PEER}",
        "read inbox (3 msgs)": f"cat {m}/inbox/*",
        "step status": f"cat {m}/steps/s-{w}-{{i}}/status",
    }


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        out = b""
        while chunk := os.read(fd, 65536):
            out += chunk
        return out
    finally:
        os.close(fd)


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _ok(fn: Callable[[], object]) -> bool:
    try:
        fn()
        return True
    except OSError:
        return False


def syscall_ops(mnt: Path, w: str = "sys") -> dict[str, Op]:
    m = str(mnt)

    def inbox(i: int) -> bool:
        names = os.listdir(f"{m}/inbox")
        for n in names:
            _read(f"{m}/inbox/{n}")
        return len(names) >= INBOX_SIZE

    return {
        "memory read": lambda i: _ok(lambda: _read(f"{m}/memory/lat/{w}{i}")),
        "memory set": lambda i: _ok(lambda: _write(f"{m}/memory/set/{w}{i}", b"v%d\n" % i)),
        "claim fresh step": lambda i: _ok(lambda: _write(f"{m}/steps/c-{w}-{i}/claim", b"a\n")),
        "lose a claim": lambda i: not _ok(lambda: _write(f"{m}/steps/h-{w}-{i}/claim", b"a\n")),
        "send message": lambda i: _ok(lambda: _write(f"{m}/outbox/{PEER}", b"hello %d\n" % i)),
        "read inbox (3 msgs)": inbox,
        "step status": lambda i: _ok(lambda: _read(f"{m}/steps/s-{w}-{i}/status")),
    }


def expect_fail(op: str) -> bool:
    return op == "lose a claim"


# ----- the floor -----


def floor_ops_s3(client: Any, backend: Backend) -> dict[str, Op]:
    from botocore.exceptions import ClientError

    b, p = backend.bucket, backend.project

    def get(key: str) -> dict[str, Any]:
        return json.loads(client.get_object(Bucket=b, Key=f"{p}/{key}")["Body"].read())

    def put(key: str, body: bytes, **kw: Any) -> bool:
        client.put_object(Bucket=b, Key=f"{p}/{key}", Body=body, **kw)
        return True

    def lose(i: int) -> bool:
        try:
            put(keys.claim_key(f"h-floor-{i}"), claim_doc(AGENT), IfNoneMatch="*")
        except ClientError as exc:
            return exc.response["ResponseMetadata"]["HTTPStatusCode"] in (409, 412)
        return False

    def inbox(i: int) -> bool:
        found: list[str] = []
        for prefix in (keys.mailbox_prefix(AGENT), keys.mailbox_prefix(keys.BROADCAST)):
            resp = client.list_objects_v2(Bucket=b, Prefix=f"{p}/{prefix}")
            found += [
                o["Key"]
                for o in resp.get("Contents", ())
                if not o["Key"].rsplit("/", 1)[1].startswith("_")
            ]
        for k in found:
            json.loads(client.get_object(Bucket=b, Key=k)["Body"].read())
        return len(found) >= INBOX_SIZE

    return {
        "memory read": lambda i: bool(get(keys.memory_key(("lat", f"floor{i}")))["value"]),
        "memory set": lambda i: put(
            keys.memory_key(("set", f"floor{i}")), memory_doc(f"v{i}", AGENT)
        ),
        "claim fresh step": lambda i: put(
            keys.claim_key(f"c-floor-{i}"), claim_doc(AGENT), IfNoneMatch="*"
        ),
        "lose a claim": lose,
        "send message": lambda i: put(message_key(PEER, AGENT), message_doc(AGENT, PEER, "hi")),
        "read inbox (3 msgs)": inbox,
        "step status": lambda i: bool(get(keys.status_key(f"s-floor-{i}"))["status"]),
    }


def floor_ops_local(store: Any) -> dict[str, Op]:
    from tcfs.errors import PreconditionFailed

    def get(key: str) -> dict[str, Any]:
        return json.loads(store.get(key).body)

    def lose(i: int) -> bool:
        try:
            store.put(keys.claim_key(f"h-floor-{i}"), claim_doc(AGENT), if_none_match=True)
        except PreconditionFailed:
            return True
        return False

    def inbox(i: int) -> bool:
        found = [
            e.key
            for prefix in (keys.mailbox_prefix(AGENT), keys.mailbox_prefix(keys.BROADCAST))
            for e in store.list(prefix)
            if not e.key.rsplit("/", 1)[1].startswith("_")
        ]
        for k in found:
            get(k)
        return len(found) >= INBOX_SIZE

    def put(key: str, body: bytes, **kw: Any) -> bool:
        store.put(key, body, **kw)
        return True

    return {
        "memory read": lambda i: bool(get(keys.memory_key(("lat", f"floor{i}")))["value"]),
        "memory set": lambda i: put(
            keys.memory_key(("set", f"floor{i}")), memory_doc(f"v{i}", AGENT)
        ),
        "claim fresh step": lambda i: put(
            keys.claim_key(f"c-floor-{i}"), claim_doc(AGENT), if_none_match=True
        ),
        "lose a claim": lose,
        "send message": lambda i: put(message_key(PEER, AGENT), message_doc(AGENT, PEER, "hi")),
        "read inbox (3 msgs)": inbox,
        "step status": lambda i: bool(get(keys.status_key(f"s-floor-{i}"))["status"]),
    }


# ----- the peer CLI -----


def tracecraft_exe() -> str | None:
    import sys

    return shutil.which("tracecraft", path=str(Path(sys.executable).parent)) or shutil.which(
        "tracecraft"
    )


def cli_runner(ctx: Ctx, backend: Backend, agent: str = AGENT) -> Callable[..., int] | None:
    """``run(*args)`` runs ``tracecraft ARGS`` as ``agent`` on ``backend`` (s3 only):
    its exit status.  None when the CLI is not installed."""
    exe = tracecraft_exe()
    if exe is None or backend.kind != "s3":
        return None
    home = ctx.root / "home" / f"cli-{backend.bucket}-{agent}"
    home.mkdir(parents=True, exist_ok=True)
    cfg = {
        "backend": "s3",
        "endpoint": backend.endpoint,
        "bucket": backend.bucket,
        "project": backend.project,
        "agent_id": agent,
        "access_key": S3_ENV["AWS_ACCESS_KEY_ID"],
        "secret_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
    }
    (home / ".tracecraft.json").write_text(json.dumps(cfg))
    os.chmod(home / ".tracecraft.json", 0o600)
    env = base_env(home)
    env["TRACECRAFT_AGENT"] = agent

    def run(*args: str) -> int:
        return run_quiet([exe, *args], timeout=60, cwd=home, env=env)

    return run


def cli_ops(ctx: Ctx, backend: Backend) -> dict[str, Op] | None:
    run = cli_runner(ctx, backend)
    if run is None:
        return None
    return {
        "memory read": lambda i: run("memory", "get", f"lat.cli{i}") == 0,
        "memory set": lambda i: run("memory", "set", f"set.cli{i}", f"v{i}") == 0,
        "claim fresh step": lambda i: run("claim", f"c-cli-{i}") == 0,
        "lose a claim": lambda i: run("claim", f"h-cli-{i}") != 0,
        "send message": lambda i: run("send", PEER, f"hello {i}") == 0,
        "read inbox (3 msgs)": lambda i: run("inbox") == 0,
        "step status": lambda i: run("step-status", f"s-cli-{i}") == 0,
    }


# ----- measuring -----


def measure(ctx: Ctx, backend: Backend, way: str, op: str, fn: Op, n: int) -> dict[str, Any]:
    for i in range(n, n + WARMUP):  # untimed: warm connections, caches of the process
        try:
            fn(i)
        except Exception:
            pass
    samples: list[float] = []
    ok = 0
    t0 = time.monotonic()
    for i in range(n):
        s = time.perf_counter()
        try:
            good = fn(i)
        except Exception:
            good = False
        samples.append(time.perf_counter() - s)
        ok += bool(good)
    t1 = time.monotonic()
    row: dict[str, Any] = {
        "backend": backend.kind,
        "op": op,
        "way": WAYS[way],
        "way_code": way,
        **summary(samples),
        "ok": ok,
    }
    if backend.kind == "s3" and ctx.proxy is not None:
        row["requests_per_op"] = round(ctx.proxy.count(backend.bucket, t0, t1) / n, 2)
        row["ops_seen"] = ctx.proxy.by_op(backend.bucket, t0, t1)
    if ok != n:
        ctx.note(f"latency {backend.kind} {WAYS[way]} {op}: only {ok}/{n} runs behaved as expected")
    return row


def run_backend(ctx: Ctx, backend: Backend, n: int, n_cli: int) -> list[dict[str, Any]]:
    cli = cli_ops(ctx, backend)
    ways = ["bash", "coproc", "sys", "floor"] + (["cli"] if cli else [])
    ctx.log(f"latency[{backend.kind}]: seeding")
    counts = {w: (n_cli if w == "cli" else n) for w in ways}
    if backend.kind == "s3":
        counts["prof"] = PROF_N
    ctx.seed(backend, seed_items(counts))
    rows: list[dict[str, Any]] = []
    with Mount(ctx.reaper, ctx.root, backend, AGENT) as mount:
        os.listdir(mount.path)
        if backend.kind == "s3":
            floor = floor_ops_s3(ctx.floor_client, backend)
        else:
            floor = floor_ops_local(ctx.local_store(backend))
        sys_ops = syscall_ops(mount.path)
        with Coproc() as co:
            ways_ops: dict[str, dict[str, Op]] = {"sys": sys_ops, "floor": floor}
            templ_b = shell_ops(mount.path, "bash")
            templ_c = shell_ops(mount.path, "coproc")
            ways_ops["bash"] = {
                op: (lambda i, t=t, op=op: (run_bash(t.format(i=i)) == 0) != expect_fail(op))
                for op, t in templ_b.items()
            }
            ways_ops["coproc"] = {
                op: (lambda i, t=t, op=op: (co.run(t.format(i=i)) == 0) != expect_fail(op))
                for op, t in templ_c.items()
            }
            if cli:
                ways_ops["cli"] = cli
            for op in OPS:
                for way in ways:
                    count = n_cli if way == "cli" else n
                    row = measure(ctx, backend, way, op, ways_ops[way][op], count)
                    rows.append(row)
                    ctx.log(
                        f"  {backend.kind:5} {op:20} {WAYS[way]:20} "
                        f"median {row['median_ms']:8.2f} ms  p95 {row['p95_ms']:8.2f} ms"
                        + (f"  req/op {row['requests_per_op']}" if "requests_per_op" in row else "")
                    )
                if op == "claim fresh step":
                    release_claims(mount, n)
            if backend.kind == "s3":
                profile_worst(ctx, mount, rows)
    return rows


def release_claims(mount: Mount, n: int) -> None:
    """Release the leases the mount just took (``rm steps/<id>/claim``), so their
    renewals do not show up in the request counts of the operations measured next."""
    for w in ("bash", "coproc", "sys"):
        for i in range(n + WARMUP):
            try:
                os.unlink(f"{mount.path}/steps/c-{w}-{i}/claim")
            except OSError:
                pass


def profile_worst(ctx: Ctx, mount: Mount, rows: list[dict[str, Any]]) -> None:
    """Replay the op furthest from the floor under py-spy, if any op misses 1.5x."""
    from bench.profiler import Profiler, py_spy
    from bench.stats import ratio

    med = {(r["op"], r["way_code"]): r["median_ms"] for r in rows}

    def over(op: str) -> float:
        x = ratio(med.get((op, "sys"), math.nan), med.get((op, "floor"), math.nan))
        return -1.0 if math.isnan(x) else x

    worst = max(OPS, key=over)
    if over(worst) <= 1.5 or py_spy() is None:
        return
    ops = syscall_ops(mount.path, "prof")
    assert mount.pid is not None
    with Profiler(mount.pid, ctx.root / "profiles" / "latency.raw") as prof:
        time.sleep(0.3)  # let py-spy attach
        deadline = time.monotonic() + 4
        for i in range(PROF_N):
            if time.monotonic() > deadline:
                break
            ops[worst](i)
    result = prof.top()
    result["op"] = worst
    ctx.results.setdefault("profiles", {})["latency: worst op"] = result
    ctx.log(f"  profiled {worst}: {result.get('inclusive', result.get('error'))}")


def process_baseline(n: int) -> dict[str, Any]:
    """What one ``bash -c 'cat /dev/null'`` costs with no mount involved."""
    samples = []
    for _ in range(n):
        s = time.perf_counter()
        run_bash("cat /dev/null")
        samples.append(time.perf_counter() - s)
    return summary(samples)


def run(ctx: Ctx, backends: list[Backend]) -> dict[str, Any]:
    n = 5 if ctx.quick else 30
    n_cli = 3 if ctx.quick else 20
    rows: list[dict[str, Any]] = []
    for b in backends:
        try:
            rows += run_backend(ctx, b, n, n_cli)
        except Exception as exc:  # a broken part is reported, not fatal
            ctx.note(f"latency on {b.kind} could not run: {exc}")
    return {"rows": rows, "bash_baseline": process_baseline(n), "runs": n, "runs_cli": n_cli}

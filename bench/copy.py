"""The local backend at disk speed: ``cp`` of a big artifact out of a mount, and per-op overhead.

* **copy**: a ``SIZE`` artifact in a local bucket, copied out of a real mount
  with ``cp`` and set against ``cp`` of the same file between two local paths
  (both from the page cache, the source read once before either is timed, both
  into memory when /dev/shm has room, best of three, interleaved), and once
  more with the mount's pages of it dropped first, so that every byte comes
  through the daemon; the daemon's peak RSS (``VmHWM``) after the copies;
  each copy is checked byte for byte by digest.
* **overhead**: small operations in-process (``stat``, reading a memory value,
  setting one, ``ls`` of a namespace) through the mount, against the same
  syscalls on the bucket's own files: what the daemon and the kernel add per
  operation.  The daemon is sampled with py-spy meanwhile.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.context import Ctx, memory_doc
from bench.mounts import Backend, Mount
from bench.shell import run_quiet
from bench.stats import ratio, summary

GIB = 1 << 30
SIZE = 2 * GIB
QUICK_SIZE = 256 << 20
CHUNK = 8 << 20
RSS_GOAL_MB = 100
AGENT = "copier"


def _fill(path: Path, size: int) -> None:
    """``size`` bytes of varied content (a random 8 MiB chunk, each copy stamped)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = bytearray(os.urandom(CHUNK))
    with open(path, "wb") as f:
        for i in range(0, size, CHUNK):
            base[:8] = i.to_bytes(8, "little")
            f.write(base[: min(CHUNK, size - i)])


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _drop_pages(path: Path) -> None:
    """Drop the kernel's cached pages of ``path`` (clean pages: a read refills them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _cp(src: Path, dst: Path, *, cached: bool = True) -> float:
    """``cp src dst``'s time: from the page cache (the source read once first,
    untimed), or with the source's pages dropped (``cached=False``: through a
    mount, every byte then comes from the daemon)."""
    if cached:
        with open(src, "rb") as f:
            while f.read(CHUNK):
                pass
    else:
        _drop_pages(src)
    dst.unlink(missing_ok=True)
    s = time.perf_counter()
    status = run_quiet(["cp", str(src), str(dst)], timeout=600)
    took = time.perf_counter() - s
    if status != 0:
        raise RuntimeError(f"cp {src} exited {status}")
    return took


def _vm(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _out_dir(ctx: Ctx, size: int) -> Path:
    """Where both copies write: memory (/dev/shm) when it has room, so the disk's
    writeback, shared with whatever else runs, times neither copy."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 3 * size:
        return Path(tempfile.mkdtemp(prefix="tcfs-bench-copy-", dir=shm))
    out = ctx.root / "copy-out"
    out.mkdir(exist_ok=True)
    return out


def copy_rows(ctx: Ctx, backend: Backend, mount: Mount, size: int) -> dict[str, Any]:
    src = Path(backend.bucket) / backend.project / "artifacts" / "shared" / "big.bin"
    _fill(src, size)
    out = _out_dir(ctx, size)
    try:
        want = _digest(src)
        local_s: list[float] = []
        mount_s: list[float] = []
        daemon_s: list[float] = []
        through = mount.path / "artifacts" / "shared" / "big.bin"
        for _ in range(1 if ctx.quick else 3):  # interleaved: all see the same load
            local_s.append(_cp(src, out / "local.bin"))
            (out / "local.bin").unlink()
            daemon_s.append(_cp(through, out / "mount.bin", cached=False))
            same = _digest(out / "mount.bin") == want
            mount_s.append(_cp(through, out / "mount.bin"))
            same = same and _digest(out / "mount.bin") == want
    finally:
        shutil.rmtree(out, ignore_errors=True)
        src.unlink()
    assert mount.pid is not None
    mb = size / (1 << 20)
    best_local, best_mount, best_daemon = min(local_s), min(mount_s), min(daemon_s)
    return {
        "size_mb": mb,
        "local_cp_s": [round(x, 3) for x in local_s],
        "mount_cp_s": [round(x, 3) for x in mount_s],
        "daemon_cp_s": [round(x, 3) for x in daemon_s],
        "local_mb_s": round(mb / best_local, 1),
        "mount_mb_s": round(mb / best_mount, 1),
        "daemon_mb_s": round(mb / best_daemon, 1),
        "mount_over_local": round(best_local / best_mount, 3),
        "daemon_over_local": round(best_local / best_daemon, 3),
        "identical": same,
        "daemon_peak_rss_mb": round((_vm(mount.pid, "VmHWM") or 0) / 1024, 1),
        "daemon_rss_mb": round((_vm(mount.pid, "VmRSS") or 0) / 1024, 1),
    }


def _timed(fn: Callable[[int], object], n: int) -> dict[str, float | int]:
    for i in range(n, n + 3):  # warm-up
        fn(i)
    samples = []
    for i in range(n):
        s = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - s)
    return summary(samples)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def overhead_rows(ctx: Ctx, backend: Backend, mount: Mount, n: int) -> list[dict[str, Any]]:
    """Per-op time through the mount vs the same syscalls on the bucket's files."""
    ctx.seed(backend, [(f"memory/ov/k{i}.json", memory_doc(f"v{i}")) for i in range(n + 3)])
    m, b = str(mount.path), str(Path(backend.bucket) / backend.project)
    ops: dict[str, tuple[Callable[[int], object], Callable[[int], object]]] = {
        "stat a memory value": (
            lambda i: os.stat(f"{m}/memory/ov/k{i}"),
            lambda i: os.stat(f"{b}/memory/ov/k{i}.json"),
        ),
        "read a memory value": (
            lambda i: _read(f"{m}/memory/ov/k{i}"),
            lambda i: _read(f"{b}/memory/ov/k{i}.json"),
        ),
        "set a memory value": (
            lambda i: _write(f"{m}/memory/ov/k{i}", b"v\n"),
            lambda i: _write(f"{b}/memory/ov/k{i}.json", memory_doc("v")),
        ),
        "ls a namespace": (
            lambda i: os.listdir(f"{m}/memory/ov"),
            lambda i: os.listdir(f"{b}/memory/ov"),
        ),
        "stat the root": (lambda i: os.stat(m), lambda i: os.stat(b)),
    }
    rows = []
    for name, (through, direct) in ops.items():
        t = _timed(through, n)
        d = _timed(direct, n)
        rows.append(
            {
                "op": name,
                "mount_median_us": round(float(t["median_ms"]) * 1000, 1),
                "direct_median_us": round(float(d["median_ms"]) * 1000, 1),
                "added_us": round((float(t["median_ms"]) - float(d["median_ms"])) * 1000, 1),
                "ratio": ratio(float(t["median_ms"]), float(d["median_ms"])),
            }
        )
    return rows


def profile_ops(ctx: Ctx, mount: Mount, n: int) -> dict[str, Any]:
    from bench.profiler import Profiler, py_spy

    if py_spy() is None or mount.pid is None:
        return {"error": "py-spy is not installed"}
    m = str(mount.path)
    with Profiler(mount.pid, ctx.root / "profiles" / "overhead.raw") as prof:
        time.sleep(0.3)
        deadline = time.monotonic() + 5
        i = 0
        while time.monotonic() < deadline and i < n * 10:
            os.stat(f"{m}/memory/ov/k{i % n}")
            _read(f"{m}/memory/ov/k{i % n}")
            i += 1
    return prof.top()


def run(ctx: Ctx) -> dict[str, Any]:
    size = QUICK_SIZE if ctx.quick else SIZE
    n = 50 if ctx.quick else 300
    backend = ctx.local_backend("copy")
    free = shutil.disk_usage(backend.bucket).free
    if free < 3 * size:
        ctx.note(f"copy: {free >> 20} MiB free, {3 * size >> 20} MiB needed; skipped")
        return {}
    with Mount(ctx.reaper, ctx.root, backend, AGENT) as mount:
        ctx.log(f"copy: cp of a {size >> 20} MiB artifact out of a local mount")
        copy = copy_rows(ctx, backend, mount, size)
        ctx.log(f"  {copy}")
        overhead = overhead_rows(ctx, backend, mount, n)
        for r in overhead:
            ctx.log(
                f"  {r['op']:22} mount {r['mount_median_us']:8.1f} us  "
                f"direct {r['direct_median_us']:8.1f} us"
            )
        prof = profile_ops(ctx, mount, n)
    return {"copy": copy, "overhead": overhead, "profile": prof}


# ----- reporting -----


def markdown(section: dict[str, Any]) -> list[str]:
    c = section.get("copy")
    if not c:
        return []
    md = [
        "",
        "## The local backend: `cp` out of a mount, per-op overhead",
        "",
        f"`cp` of a {c['size_mb']:.0f} MiB artifact out of a mount: {c['mount_mb_s']} MB/s "
        f"(best of {c['mount_cp_s']} s) vs `cp` between two local files {c['local_mb_s']} MB/s "
        f"(best of {c['local_cp_s']} s): **{c['mount_over_local']:.0%}** of local; copy "
        f"identical: {c['identical']}; daemon peak RSS {c['daemon_peak_rss_mb']} MB.",
        "",
        f"With the mount's pages of it dropped first (every byte through the daemon): "
        f"{c.get('daemon_mb_s')} MB/s (best of {c.get('daemon_cp_s')} s): "
        f"**{c.get('daemon_over_local', 0):.0%}** of local.",
        "",
        "| op (in-process) | through the mount µs | on the bucket's files µs | added µs |",
        "|---|---|---|---|",
    ]
    for r in section.get("overhead", []):
        md.append(
            f"| {r['op']} | {r['mount_median_us']} | {r['direct_median_us']} | {r['added_us']} |"
        )
    p = section.get("profile", {})
    if "self" in p:
        md += [
            "",
            "py-spy on the daemon (stat + read of memory values), on CPU: "
            + "; ".join(f"`{f}` {x}%" for f, x in p["self"][:6]),
        ]
    return md


def stdout(section: dict[str, Any]) -> list[str]:
    c = section.get("copy")
    if not c:
        return []
    out = [
        f"\ncopy: cp {c['size_mb']:.0f} MiB out of a local mount {c['mount_mb_s']} MB/s vs "
        f"local cp {c['local_mb_s']} MB/s = {c['mount_over_local']:.0%}; identical "
        f"{c['identical']}; daemon peak RSS {c['daemon_peak_rss_mb']} MB",
        f"  pages dropped first (through the daemon): {c.get('daemon_mb_s')} MB/s = "
        f"{c.get('daemon_over_local', 0):.0%} of local",
    ]
    for r in section.get("overhead", []):
        out.append(
            f"  {r['op']:22} mount {r['mount_median_us']:8.1f} us, direct "
            f"{r['direct_median_us']:8.1f} us, added {r['added_us']:8.1f} us"
        )
    return out


def goals(section: dict[str, Any]) -> list[dict[str, Any]]:
    c = section.get("copy")
    if not c:
        return []
    small = c["daemon_peak_rss_mb"] <= RSS_GOAL_MB
    met = c["mount_over_local"] >= 0.5 and small
    through = c.get("daemon_over_local", 0) >= 0.5 and small
    return [
        {
            "key": "copy",
            "goal": f"local: cp of a big artifact out of the mount >= 50% of a local cp, "
            f"daemon <= {RSS_GOAL_MB} MB (both from the page cache)",
            "met": met and c["identical"],
            "figure": f"{c['mount_over_local']:.0%} of local, "
            f"peak RSS {c['daemon_peak_rss_mb']} MB",
            "missed": [] if met else ["copy"],
        },
        {
            "key": "copy-daemon",
            "goal": "the same, the mount's pages dropped first (every byte through the daemon)",
            "met": through and c["identical"],
            "figure": f"{c.get('daemon_over_local', 0):.0%} of local",
            "missed": [] if through else ["copy-daemon"],
        },
    ]

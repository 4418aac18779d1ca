"""The mount daemon: checks, mount, main loop, heartbeat, lease renewal, exit.

``serve`` runs in the foreground process: it checks everything that can be
checked before mounting (``/dev/fuse``, the mountpoint, the store with one
cheap request), claims the agent id (one agent, one mount: a second mount of
it is refused, naming the first), mounts, and runs its FUSE binding's loop (``bindings``) next to
the poller, the tailer, the heartbeat and the publisher of its state.
SIGTERM, SIGINT and an external ``fusermount3 -u`` all end it cleanly: the
mount is released, the agent id given back, the record removed, the
companion mirror stopped.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from tcfs import config, registry
from tcfs.fs import bindings, readahead
from tcfs.fs import wake as wakes
from tcfs.protocol import AfterAnswer, Project, keys
from tcfs.protocol.agents import HEARTBEAT_S, Holder
from tcfs.protocol.events.writer import EventSink, EventWriter
from tcfs.protocol.sessions import SessionReader
from tcfs.protocol.steps import SKEW_REFUSE_S, SKEW_WARN_S
from tcfs.spawn import tcfs_command
from tcfs.store import cas_probe
from tcfs.store.base import Store, best_effort_warning, public_endpoint

if TYPE_CHECKING:
    from collections.abc import Callable

    from tcfs.fs.bindings import Binding
    from tcfs.fs.calls import Calls
    from tcfs.fs.core import FsCore
from tcfs.config import Settings
from tcfs.errors import (
    AccessDenied,
    BackendUnavailable,
    IdentityLost,
    NotFound,
    StoreError,
    TcfsError,
)

log = logging.getLogger(__name__)

MIRROR_STOP_S = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: stop signals that came while the main loop was not listening
_SIGNALLED: list[int] = []
#: at unmount, queued events are written for at most this long
EVENTS_FLUSH_S = 5.0
MOUNT_CHECK_S = 1.0  # how often the daemon looks for an unmount done from outside
STATE_EVERY_S = 0.5  # how often new refusals are published for ``tcfs status``
CAS_VERIFIED = "cas-verified.json"  # the stores proven to enforce conditional writes
AFTER_CLOSE_S = 10.0  # at exit, how long writes queued after an answer get to land


class MountError(TcfsError):
    """The mount cannot start; the message says why and what to do."""

    level = logging.ERROR


# ----- checks before mounting -----


def preflight(mountpoint: str) -> str:
    """Check what can be checked without the store; returns the absolute path."""
    if sys.platform != "darwin" and not os.path.exists("/dev/fuse"):  # macFUSE: /dev/macfuse*
        raise MountError(
            "FUSE is not available: /dev/fuse is missing "
            "(install fuse3; in a container, pass --device /dev/fuse)"
        )
    mnt = registry.canonical(mountpoint)
    if registry.is_mounted(mnt):
        raise MountError(f"{mnt} is already mounted (tcfs umount {mnt} first)")
    if not os.path.exists(mnt):
        raise MountError(f"mountpoint {mnt} does not exist (mkdir it first)")
    if not os.path.isdir(mnt):
        raise MountError(f"mountpoint {mnt} is not a directory")
    try:
        if os.listdir(mnt):
            raise MountError(f"mountpoint {mnt} is not empty")
    except PermissionError as exc:
        raise MountError(f"cannot read mountpoint {mnt}: {exc.strerror}") from exc
    return mnt


def check_store(store: Store) -> None:
    """One cheap request, so bad credentials fail the mount, not the first ls."""
    where = store.describe()  # names the endpoint, without any user:password in its URL
    try:
        next(iter(store.list(keys.AGENTS_ROOT, delimiter="/")), None)
    except AccessDenied as exc:
        raise MountError(f"access denied to {where}: check the credentials ({exc})") from exc
    except BackendUnavailable as exc:
        raise MountError(f"cannot reach {where}: {exc}") from exc
    except NotFound as exc:
        raise MountError(f"bucket not found: {where} ({exc})") from exc
    except StoreError as exc:
        raise MountError(f"the store {where} failed: {exc}") from exc


def check_clock(project: Project) -> float | None:
    """Log this machine's clock against the store's (measured by the requests
    so far); the skew, None when the store gives no Date."""
    skew, seen = project.steps.skew(), project.store.clock.describe_skew()
    if skew is not None and abs(skew) > SKEW_REFUSE_S:
        log.error("%s: this mount will not take over other agents' leases", seen)
    elif skew is not None and abs(skew) > SKEW_WARN_S:
        log.warning("%s: fix this machine's clock (leases are judged on the store's)", seen)
    else:
        log.info("%s", seen)
    return skew


def check_conditional_writes(store: Store, settings: Settings, *, trust: bool) -> None:
    """Serve only on a store proven to enforce conditional writes (``cas_probe``);
    the hf backend keeps its documented best-effort claims, and the local one
    enforces them itself."""
    if store.kind != "s3":
        return
    endpoint = public_endpoint(settings.get("endpoint"))
    target = f"s3 bucket {settings.bucket} at {endpoint or 'AWS'}"
    why = cas_probe.refusal(store, target, config.tcfs_home() / CAS_VERIFIED, trust=trust)
    if why is not None:
        raise MountError(why)


def open_project(store: Store, settings: Settings) -> Project:
    # the mount answers the shell first and sends follow-up writes after
    project = Project(store, settings.agent, lease_ttl=settings.lease_ttl, after=AfterAnswer())
    project.waiting.sweep_s = settings.sweep
    return project


def abort_dead_uploads(project: Project) -> None:
    """Abort the artifact uploads this agent's previous daemon had under way
    when it was killed (their parts stay stored, and billed, for good); an
    agent has one mount, so none of them is still running."""
    journal = project.artifacts.journal
    try:
        aborted = project.artifacts.store.abort_uploads(journal) if journal else 0
    except TcfsError as exc:
        log.warning("could not abort the uploads a killed mount left: %s", exc)
        return
    if aborted:
        log.info("aborted %d upload(s) a killed mount of %s left", aborted, project.agent)


def open_sessions(store: Store) -> SessionReader:
    return SessionReader(store)


def _gone_here(holder: Holder) -> bool:
    """A holder on this host whose daemon is not running is gone for sure."""
    return holder.host == socket.gethostname() and not registry.pid_alive(holder.pid)


def claim_identity(project: Project, mnt: str, *, takeover: bool, heartbeat_s: float) -> str:
    """Claim the agent id for this mount (``AgentMounted`` if another mount
    holds it); returns how the mount came up, for its ``agent-up`` event."""
    holder = Holder.new(socket.gethostname(), mnt, os.getpid(), heartbeat_s)
    previous = project.agents.claim(
        f"mounted at {mnt}", holder, takeover=takeover, gone_here=_gone_here
    )
    if previous is None:
        return "mounted"
    log.warning("took agent %s over from %s", project.agents.agent, previous.describe())
    return f"mounted, taking over from {previous.describe()}"


# ----- the companion mirror -----


def mirror_command(settings: Settings, harness: str, cwd: str) -> tuple[list[str], dict[str, str]]:
    """The mirror's command line and environment: credentials (and an endpoint
    with a password in it) go in the environment, never on its command line (a
    process's environment is readable only by its user; its arguments by all).
    Needed when they came from a ``.tracecraft.json`` the mirror, run from
    ``/``, would not find."""
    flags, secrets = settings.for_child(leave_out=config.MOUNT_OPTIONS)
    args = tcfs_command("mirror", "--follow", "--harness", harness)
    args += ["--cwd", cwd]  # the project whose sessions to mirror: where mount was run
    return args + flags, {**os.environ, **secrets}


def start_mirror(settings: Settings, harness: str, cwd: str) -> subprocess.Popen[bytes] | None:
    if importlib.util.find_spec("tcfs.commands.mirror") is None:
        log.error("--mirror %s: the mirror command is not available; mounting without it", harness)
        return None
    log_path = config.runtime_dir() / f"mirror-{settings.project}-{settings.agent}.log"
    try:
        out = open(log_path, "ab")  # noqa: SIM115 - owned by the child
        os.chmod(log_path, 0o600)
        args, env = mirror_command(settings, harness, cwd)
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd="/",
            env=env,
        )
        out.close()
    except OSError as exc:
        log.error("--mirror %s: cannot start the mirror: %s", harness, exc)
        return None
    log.info("mirror for %s started (pid %d, log %s)", harness, proc.pid, log_path)
    return proc


def stop_mirror(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=MIRROR_STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=MIRROR_STOP_S)


# ----- the main loop -----


async def _keep_alive(
    project: Project,
    calls: Calls,
    lease_ttl: float,
    events: EventSink,
    on_lost: Callable[[str], None],
) -> None:
    """Heartbeat every ``--heartbeat`` seconds (120 s: presence turns stale after
    300 s); renew each held lease at half its life (one If-Match PUT: 2 a minute at the
    default 60 s lease).  A heartbeat that finds the agent id taken over by
    another mount ends both: ``on_lost`` stops this mount's event log."""
    beat_s = project.agents.heartbeat_s
    tick = max(1.0, min(beat_s, lease_ttl / 4))
    last_beat = trio.current_time()
    while True:
        await trio.sleep(tick)
        try:
            lost = await calls.write(project.steps.renew_all)
            for step, why in lost.items():
                log.warning("lost the lease on step %s: %s", step, why)
                events.emit("renew-failed", step, reason=why)
            for name in await calls.write(project.reservations.renew_all):
                log.warning("lost the file reservation %s", name)
                events.emit("reserve-lost", name, reason="taken over or released")
            if trio.current_time() - last_beat >= beat_s - tick / 2:
                held = project.steps.held()
                await calls.write(project.agents.heartbeat, held[0] if held else None)
                last_beat = trio.current_time()
        except IdentityLost as exc:
            log.error("%s", exc)
            on_lost(str(exc))
            return
        except TcfsError as exc:
            log.log(exc.level, "heartbeat: %s", exc)


def _stop(core: FsCore, fuse: Binding) -> None:
    """End the binding's loop.  It waits for running handlers, so first end the
    readers blocked in ``wait`` or ``inbox/next`` (they get ``EINTR``)."""
    core.poller.shutdown()
    fuse.stop()


async def _watch_signals(core: FsCore, fuse: Binding) -> None:
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        if _SIGNALLED:  # came before the receiver was in place
            log.info("received %s: unmounting", signal.Signals(_SIGNALLED[0]).name)
            _stop(core, fuse)
            return
        async for signum in signals:
            log.info("received %s: unmounting", signal.Signals(signum).name)
            _stop(core, fuse)
            return


async def _watch_mount(core: FsCore, fuse: Binding, mnt: str) -> None:
    """Notice an unmount done from outside (``fusermount3 -u``, ``umount -l``),
    from the kernel's mount table: the daemon never looks at its own mountpoint."""
    while True:
        await trio.sleep(MOUNT_CHECK_S)
        if not await trio.to_thread.run_sync(registry.is_mounted, mnt):
            log.info("%s was unmounted from outside", mnt)
            _stop(core, fuse)
            return


async def _publish_state(core: FsCore, mnt: str) -> None:
    """Publish new refusals (and what stopped the mount) for ``tcfs status``."""
    refusals = core.ctx.refusals
    while True:
        await trio.sleep(STATE_EVERY_S)
        if refusals.dirty:
            try:
                await trio.to_thread.run_sync(registry.write_state, mnt, refusals.published())
            except OSError as exc:  # status then shows older refusals; the mount goes on
                log.warning("cannot publish the mount's state: %s", exc)


async def _run(
    core: FsCore,
    fuse: Binding,
    project: Project,
    lease_ttl: float,
    mnt: str,
    events: EventWriter,
) -> None:
    def lost(problem: str) -> None:
        events.stop()
        core.ctx.refusals.stop(problem)

    async with trio.open_nursery() as nursery:
        core.start()
        nursery.start_soon(core.poller.run)
        nursery.start_soon(core.tailer.run)
        nursery.start_soon(_keep_alive, project, core.calls, lease_ttl, core.ctx.events, lost)
        nursery.start_soon(_publish_state, core, mnt)
        nursery.start_soon(_watch_signals, core, fuse)
        nursery.start_soon(_watch_mount, core, fuse, mnt)
        nursery.start_soon(
            functools.partial(trio.to_thread.run_sync, readahead.widen, mnt, abandon_on_cancel=True)
        )
        await fuse.run(core, mnt)
        await core.publish_lingering()
        nursery.cancel_scope.cancel()


def _stopping(signum: int, _frame: object) -> None:
    _SIGNALLED.append(signum)


def serve(
    settings: Settings,
    mountpoint: str,
    *,
    mirror: str | None = None,
    log_path: str | None = None,
    wake: str | None = None,
    wake_after: float = 30.0,
    wake_timeout: float = 600.0,
    takeover: bool = False,
    heartbeat_s: float = HEARTBEAT_S,
    trust_cas: bool = False,
    fuse_name: str = bindings.DEFAULT,
) -> None:
    """Mount and serve until unmounted or signalled (blocks)."""
    from tcfs.fs.core import FsCore
    from tcfs.fs.readme import render
    from tcfs.store import open_store

    mnt = preflight(mountpoint)
    fuse = bindings.binding(fuse_name, STOP_SIGNALS)
    workdir = os.getcwd()
    os.chdir("/")  # never keep a directory busy (or our own mountpoint)
    store = open_store(settings)
    check_store(store)
    check_conditional_writes(store, settings, trust=trust_cas)
    warning = best_effort_warning(type(store))
    if warning:
        log.warning("%s", warning)
    project = open_project(store, settings)
    skew = check_clock(project)
    how = claim_identity(project, mnt, takeover=takeover, heartbeat_s=heartbeat_s)
    abort_dead_uploads(project)
    events = EventWriter(store, settings.agent)
    events.start()
    spool = config.runtime_dir() / "spool"
    spool.mkdir(mode=0o700, exist_ok=True)
    core = FsCore(
        project,
        sessions=open_sessions(store),
        wait_timeout=settings.wait_timeout,
        spool_dir=str(spool),
        readme=render(
            project=settings.project,
            agent=settings.agent,
            backend=settings.backend,
            wait_timeout=settings.wait_timeout,
            lease_ttl=settings.lease_ttl,
        ),
        invalidate=fuse.invalidator(),
        events=events,
    )
    try:
        fuse.mount(core, mnt)
    except (RuntimeError, ImportError, OSError) as exc:
        project.agents.release()
        raise MountError(f"cannot mount {mnt}: {exc}") from exc
    mirror_proc = start_mirror(settings, mirror, workdir) if mirror else None
    stop_wake = None
    if wake:
        stop_wake = wakes.start(
            core.poller,
            project.messages,
            wake,
            mount=Path(mnt),
            after=wake_after,
            timeout=wake_timeout,
            cwd=workdir,
        )
    registry.write_record(
        registry.MountRecord(
            pid=os.getpid(),
            mountpoint=mnt,
            project=settings.project,
            agent=settings.agent,
            backend=settings.backend,
            bucket=settings.bucket,
            endpoint=public_endpoint(settings.get("endpoint")),  # `tcfs status` shows it
            started_at=time.time(),
            log=log_path,
            mirror_pid=mirror_proc.pid if mirror_proc else None,
            clock_skew_s=None if skew is None else round(skew, 1),
            fuse=fuse.name,
        )
    )
    events.emit("agent-up", how=how)
    log.info(
        "mounted %s: project %s as agent %s (%s)",
        mnt,
        settings.project,
        settings.agent,
        store.describe(),
    )
    # A stop signal outside the main loop's own receiver (before it starts, or
    # after the loop ended: ``fusermount3 -u`` then ``kill``) is noted, never
    # the default sudden death: the clean-up is bounded, and it writes the
    # event log's last batch.  The loop's receiver restores this handler.
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stopping)
    clean = False
    try:
        trio.run(_run, core, fuse, project, settings.lease_ttl, mnt, events)
        clean = True
    finally:
        with contextlib.suppress(Exception):
            fuse.close()
        stop_mirror(mirror_proc)
        if stop_wake is not None:
            stop_wake()
        if core.ctx.feed is not None:
            core.ctx.feed.shutdown()
        events.emit("agent-down", how="unmounted" if clean else "stopped after an error")
        events.close(timeout=EVENTS_FLUSH_S)
        with contextlib.suppress(Exception):  # the next mount of the agent needs no takeover
            project.agents.release()
        registry.remove_record(mnt, os.getpid())
        if project.after is not None:  # what the shell was told is sent
            project.after.close(timeout=AFTER_CLOSE_S)
        with contextlib.suppress(Exception):
            project.close()  # rings still due go out before the store closes
        with contextlib.suppress(Exception):
            store.close()
        log.info("unmounted %s%s", mnt, "" if clean else " after an error")


def setup_logging(level: str | None = None) -> None:
    name = (level or os.environ.get("TCFS_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, name, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # boto's debug output would carry request headers
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

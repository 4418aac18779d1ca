"""``tcfs mount``, ``tcfs umount`` and ``tcfs status``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import click

from tcfs import config, harnesses, registry
from tcfs.commands.common import backend_options, lease_options, option, settings_from
from tcfs.config import SWEEP, Settings
from tcfs.errors import TcfsError
from tcfs.fs import bindings
from tcfs.spawn import tcfs_command
from tcfs.store.base import best_effort_warning
from tcfs.store.cas_probe import TRUST_ENV

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
KILL_TIMEOUT_S = 5.0


def _error_lines(log_path: Path, start: int) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    picked = [ln for ln in lines if ln.startswith(("tcfs:", "Error:")) or " ERROR " in ln]
    return "\n".join(picked or lines[-10:])


def _warn_best_effort(s: Settings) -> None:
    from tcfs.store import store_class

    warning = best_effort_warning(store_class(s.backend))
    if warning:
        click.secho(
            f"WARNING: {warning}. Use s3 or local for exact claims.",
            fg="yellow",
            bold=True,
            err=True,
        )


@click.command()
@click.argument("mountpoint", type=click.Path(file_okay=False))
@backend_options
@lease_options
@option(SWEEP)
@click.option("--foreground", is_flag=True, help="run the daemon in this process")
@click.option(
    "--mirror",
    "mirror",
    metavar="HARNESS",
    default=None,
    show_default="no mirror",
    help="also run `tcfs mirror --follow --harness HARNESS` while mounted "
    f"(HARNESS: {harnesses.listed()})",
)
@click.option(
    "--wake",
    metavar="COMMAND",
    default=None,
    show_default="mail waits for the next session",
    help="run COMMAND when mail waits that no session took, in the directory mount runs in; "
    "it gets the messages on stdin, and {message_file} in it is replaced by their file, e.g. "
    "'claude -p --continue \"Act on the messages above ({message_file})\"'",
)
@click.option(
    "--wake-after",
    type=float,
    default=30.0,
    show_default=True,
    help="seconds mail waits unread before --wake runs",
)
@click.option(
    "--wake-timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="seconds a --wake command may run before it is killed",
)
@click.option(
    "--takeover",
    is_flag=True,
    help="take the agent id over from its other mount once that mount is gone: at once if "
    "its daemon is not running on this host, else once its record stays unchanged for 1.5 "
    "of its heartbeats (3 minutes by default); refused while that mount is alive",
)
@click.option(
    "--heartbeat",
    "heartbeat_s",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="seconds between refreshes of this agent's record: another mount's --takeover "
    "waits 1.5 of them after its last change",
)
@click.option(
    "--fuse",
    "fuse_name",
    type=click.Choice(bindings.NAMES),
    default=bindings.DEFAULT,
    show_default=True,
    help="the FUSE binding: pyfuse3 (Linux) or mfusepy (macOS with macFUSE; Linux too)",
)
@click.option(
    "--trust-store-cas",
    "trust_cas",
    is_flag=True,
    envvar=TRUST_ENV,
    help="serve even on an S3 store that does not prove it enforces If-None-Match and If-Match "
    "on PUT (a mount first checks with a probe under _tcfs_probe/, remembered for a day): "
    f"claims and leases are then only as exact as the store  [env {TRUST_ENV}=1]",
)
@click.option("--log-path", hidden=True, default=None)
def mount(
    mountpoint: str,
    foreground: bool,
    takeover: bool,
    heartbeat_s: float,
    fuse_name: str,
    mirror: str | None,
    wake: str | None,
    wake_after: float,
    wake_timeout: float,
    trust_cas: bool,
    log_path: str | None,
    **kwargs: Any,
) -> None:
    """Mount a project of the bucket at MOUNTPOINT as an agent."""
    from tcfs.fs import daemon
    from tcfs.protocol.agents import GONE_AFTER_BEATS, HEARTBEAT_S

    if wake is not None:
        from tcfs.fs.wake import check_command

        try:
            check_command(wake)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc

    s = settings_from(
        kwargs,
        lease_ttl=kwargs.pop("lease_ttl"),
        wait_timeout=kwargs.pop("wait_timeout"),
        sweep=kwargs.pop("sweep"),
    )
    try:
        mnt = daemon.preflight(mountpoint)
    except TcfsError as exc:
        raise click.ClickException(str(exc)) from exc
    _warn_best_effort(s)
    if trust_cas and s.backend == "s3":
        click.secho(
            "WARNING: --trust-store-cas: the mount serves even if the store ignores conditional "
            "writes (two agents could then both win a claim); its log says what the probe saw",
            fg="yellow",
            err=True,
        )
    if foreground:
        daemon.setup_logging()
        try:
            daemon.serve(
                s,
                mnt,
                mirror=mirror,
                log_path=log_path,
                wake=wake,
                wake_after=wake_after,
                wake_timeout=wake_timeout,
                takeover=takeover,
                heartbeat_s=heartbeat_s,
                fuse_name=fuse_name,
                trust_cas=trust_cas,
            )
        except TcfsError as exc:
            raise click.ClickException(str(exc)) from exc
        return

    logs = config.runtime_dir() / "logs"
    logs.mkdir(mode=0o700, exist_ok=True)
    log_file = logs / f"mount-{s.project}-{s.agent}.log"
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    start = os.lseek(fd, 0, os.SEEK_END)
    flags, secrets = s.for_child()  # never a password on the daemon's command line
    args = tcfs_command("mount", mnt, "--foreground", *flags, "--log-path", str(log_file))
    if mirror:
        args += ["--mirror", mirror]
    if takeover:
        args.append("--takeover")
    args += ["--heartbeat", f"{heartbeat_s:g}"]
    if trust_cas:
        args.append("--trust-store-cas")
    args += ["--fuse", fuse_name]
    if wake:
        args += ["--wake", wake, "--wake-after", f"{wake_after:g}"]
        args += ["--wake-timeout", f"{wake_timeout:g}"]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=fd,
        stderr=fd,
        start_new_session=True,
        env={**os.environ, **secrets},
    )
    os.close(fd)
    ready_s = READY_TIMEOUT_S + (HEARTBEAT_S * GONE_AFTER_BEATS if takeover else 0)
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = _error_lines(log_file, start) or f"the daemon exited with {proc.returncode}"
            raise click.ClickException(f"mount failed:\n{detail}")
        if registry.is_mounted(mnt) and registry.read_record(mnt) is not None:
            click.echo(
                f"mounted {mnt}: project {s.project} as agent {s.agent} "
                f"({s.backend}); log {log_file}"
            )
            return
        time.sleep(0.05)
    proc.terminate()
    raise click.ClickException(f"the mount did not become ready in {ready_s:g}s; see {log_file}")


def _stop_daemon(pid: int) -> str:
    if registry.wait_gone(pid, STOP_TIMEOUT_S / 2):
        return "stopped"
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, KILL_TIMEOUT_S)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return "stopped"
        if registry.wait_gone(pid, wait):
            return "stopped" if sig == signal.SIGTERM else "killed"
    return "still running"


@click.command()
@click.argument("mountpoint", type=click.Path())
@click.option("--lazy", is_flag=True, help="detach now even if files are open (umount -l)")
def umount(mountpoint: str, lazy: bool) -> None:
    """Unmount MOUNTPOINT and stop its daemon (also after the daemon died)."""
    mnt = registry.canonical(mountpoint)
    rec = registry.read_record(mnt)
    mounted = registry.is_mounted(mnt)
    if not mounted and rec is None:
        raise click.ClickException(f"{mnt} is not a tcfs mount")
    alive = rec is not None and registry.pid_alive(rec.pid)
    if mounted:
        ok, err = registry.unmount(mnt, lazy=lazy or not alive)
        if not ok and alive and not lazy:
            if "busy" in err.lower():
                raise click.ClickException(
                    f"{mnt} is busy (a file or a shell's directory is open there); "
                    f"close it or use --lazy"
                )
            ok, err = registry.unmount(mnt, lazy=True)
        if not ok and registry.is_mounted(mnt):
            raise click.ClickException(f"cannot unmount {mnt}: {err}")
    outcome = "not running"
    if rec is not None:
        if alive:
            outcome = _stop_daemon(rec.pid)
        if rec.mirror_pid and registry.pid_alive(rec.mirror_pid):
            _stop_daemon(rec.mirror_pid)
        registry.remove_record(mnt)
    click.echo(f"unmounted {mnt} (daemon {outcome})")


def _state_of(mountpoint: str) -> dict[str, Any]:
    state = registry.read_state(mountpoint)
    refusals = state.get("refusals")
    return {
        "problem": state.get("problem"),
        "refusals": refusals if isinstance(refusals, list) else [],
    }


def _health(rec: registry.MountRecord, table: dict[str, str]) -> str:
    alive = registry.pid_alive(rec.pid)
    mounted = rec.mountpoint in table
    if alive and mounted:
        return "alive"
    if mounted:
        return "stale mount"
    if alive:
        return "not mounted"
    return "dead"


#: ``tcfs status`` prints this many of each mount's last refusals
STATUS_REFUSALS = 3


def _state_lines(row: dict[str, Any]) -> list[str]:
    """What stopped a mount, and its latest refusals with their reasons."""
    from tcfs.fs.refusals import FILE_NAME, Refusal

    lines = [f"  STOPPED: {row['problem']}"] if row.get("problem") else []
    try:
        refusals = [Refusal.from_json(r) for r in row.get("refusals") or []]
    except (AttributeError, KeyError, TypeError, ValueError):  # a state file not ours
        refusals = []
    if refusals:
        shown = refusals[-STATUS_REFUSALS:]
        lines.append(
            f"  last {len(shown)} of {len(refusals)} refusal(s) (all in "
            f"{os.path.join(row['mountpoint'], FILE_NAME)}):"
        )
        lines += [f"    {r.line()}" for r in shown]
    return lines


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option(
    "--all",
    "include_others",
    is_flag=True,
    help="also list other users' tcfs mounts (default: only yours)",
)
def status(as_json: bool, include_others: bool) -> None:
    """List your tcfs mounts on this machine, their health, and why each
    refused what it refused last.

    The mounts are those recorded under this TCFS_HOME, plus any tcfs mount of
    yours the kernel lists without a record; --all adds other users' mounts."""
    table = registry.mount_table()
    rows: list[dict[str, Any]] = []
    seen = set()
    for rec in registry.all_records():
        seen.add(rec.mountpoint)
        rows.append(
            {
                "mountpoint": rec.mountpoint,
                "project": rec.project,
                "agent": rec.agent,
                "backend": rec.backend,
                "bucket": rec.bucket,
                "endpoint": rec.endpoint,
                "pid": rec.pid,
                "started_at": rec.started_at,
                "log": rec.log,
                "health": _health(rec, table),
                **_state_of(rec.mountpoint),
                "clock_skew_s": rec.clock_skew_s,
                "owner_uid": os.getuid(),
                "fuse": rec.fuse,
            }
        )
    for mount in registry.tcfs_mounts():
        if mount.mountpoint in seen:
            continue
        ours = mount.owner_uid in (None, os.getuid())
        if ours or include_others:
            rows.append(_unrecorded_row(mount, ours))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no tcfs mounts")
        return
    for r in rows:
        if r["pid"] is None:  # known only from the kernel's table
            click.echo(f"{r['mountpoint']}  {r['health']}")
            continue
        click.echo(
            f"{r['mountpoint']}  project={r['project']} agent={r['agent']} "
            f"backend={r['backend']} pid={r['pid']}  {r['health']}{_skew_note(r['clock_skew_s'])}"
        )
        for line in _state_lines(r):
            click.echo(line)


def _unrecorded_row(mount: registry.KernelMount, ours: bool) -> dict[str, Any]:
    """A tcfs mount the kernel lists that has no record under this TCFS_HOME."""
    if ours:
        health = "no record here: a stale mount, or one made with another TCFS_HOME"
    else:
        health = f"another user's mount ({_user_name(mount.owner_uid)})"
    unknown = (
        "project",
        "agent",
        "backend",
        "bucket",
        "endpoint",
        "pid",
        "started_at",
        "log",
        "fuse",
    )
    return {
        "mountpoint": mount.mountpoint,
        **dict.fromkeys(unknown),
        "health": health,
        "problem": None,
        "refusals": [],
        "clock_skew_s": None,
        "owner_uid": mount.owner_uid,
    }


def _user_name(uid: int | None) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name}, uid {uid}" if uid is not None else "uid unknown"
    except KeyError:
        return f"uid {uid}"


def _skew_note(skew: float | None) -> str:
    """A word on a clock that disagrees with the store's, else nothing."""
    from tcfs.protocol.steps import SKEW_REFUSE_S, SKEW_WARN_S

    if skew is None or abs(skew) <= SKEW_WARN_S:
        return ""
    way = "ahead of" if skew > 0 else "behind"
    note = f"  clock {abs(skew):.1f}s {way} the store's"
    return note + (" (refuses to take over leases)" if abs(skew) > SKEW_REFUSE_S else "")

"""``tcfs mirror``: copy coding-agent transcripts into the bucket's ``sessions/``.

One-shot by default; ``--follow`` keeps mirroring every ``--interval`` seconds
until SIGTERM or SIGINT, then stamps ``ended_at`` on the sessions it mirrored.
The mount starts it as a companion with
``python -m tcfs mirror --follow --harness H <backend options>``.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from tcfs import harnesses
from tcfs.commands.common import backend_options, settings_from


@click.command("mirror")
@backend_options
@click.option(
    "--harness",
    default="auto",
    show_default=True,
    help=f"{harnesses.listed('auto')} (every harness with a session for the cwd).",
)
@click.option("--session-id", default=None, help="Mirror this session (default: the active one).")
@click.option(
    "--cwd",
    "cwd",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Project directory whose sessions to mirror (default: the current one).",
)
@click.option(
    "--once/--follow",
    "once",
    default=True,
    help="Mirror what is there and exit (default), or keep following.",
)
@click.option(
    "--interval",
    default=0.5,
    show_default=True,
    type=float,
    help="Seconds between polls when following.",
)
@click.option("--all", "all_sessions", is_flag=True, help="Every session of the cwd.")
@click.option("--no-redact", is_flag=True, help="Upload transcripts without redaction.")
def mirror(**kwargs: Any) -> None:
    """Mirror agent transcripts into sessions/<harness>/<session>/ (redacted)."""
    from tcfs.errors import TcfsError
    from tcfs.mirror import adapters
    from tcfs.mirror.runner import Runner, harnesses_with_sessions
    from tcfs.store import open_store

    settings = settings_from(kwargs)
    interval: float = kwargs["interval"]
    if not interval > 0:
        raise click.BadParameter("must be greater than 0", param_hint="--interval")
    explicit_cwd = kwargs["cwd"] is not None
    cwd = (kwargs["cwd"] or Path.cwd()).expanduser().absolute()
    harness: str = kwargs["harness"]
    known = adapters.names()
    if harness != "auto" and harness not in known:
        raise click.BadParameter(
            f"{harness!r} is not one of auto, {', '.join(known)}", param_hint="--harness"
        )
    once: bool = kwargs["once"]
    if harness == "auto":
        names: list[str] | None = None
        if once and not kwargs["session_id"]:
            names = harnesses_with_sessions(cwd)
            if not names:
                raise click.ClickException(f"no agent session found for {cwd}")
    else:
        names = [harness]

    try:
        store = open_store(settings)
    except TcfsError as exc:
        raise click.ClickException(str(exc)) from exc
    runner = Runner(
        store,
        names,
        cwd=cwd,
        explicit_cwd=explicit_cwd,
        session_id=kwargs["session_id"],
        all_sessions=kwargs["all_sessions"],
        agent_id=settings.agent,
        redact=not kwargs["no_redact"],
        echo=click.echo,
    )
    try:
        if once:
            if not runner.select():
                what = f"session {kwargs['session_id']}" if kwargs["session_id"] else str(cwd)
                raise click.ClickException(f"no {harness} session found for {what}")
            n = runner.run_once()
            click.echo(f"{n} part(s) uploaded")
            if runner.failed:
                raise click.ClickException("some sessions could not be mirrored (see above)")
            return
        stop = threading.Event()

        def on_signal(_signum: int, _frame: object) -> None:
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        click.echo(f"following {harness} sessions for {cwd} every {interval:g}s")
        runner.run_follow(interval, stop)
        click.echo("stopped")
    finally:
        store.close()

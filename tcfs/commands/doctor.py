"""``tcfs doctor``: check a backend before trusting it with claims."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tcfs.commands.common import backend_options, settings_from
from tcfs.config import Settings
from tcfs.doctor import STALE_UPLOAD_S
from tcfs.errors import TcfsError
from tcfs.store.base import RetryPolicy, Store

# The doctor reports a dead endpoint in seconds rather than waiting out the
# daemon's full retry budget.
DOCTOR_RETRY = RetryPolicy(attempts=4, base_delay=0.1, max_delay=1.0, deadline=8.0)


def _open(settings: Settings) -> Store:
    from tcfs.store import open_store

    return open_store(settings, retry=DOCTOR_RETRY)


@click.command("doctor")
@backend_options
@click.option(
    "--contenders",
    type=click.IntRange(2, 256),
    default=16,
    show_default=True,
    help="concurrent If-None-Match writers in the live race",
)
@click.option(
    "--abort-uploads",
    is_flag=True,
    help="also abort the project's incomplete multipart uploads begun more than --upload-age "
    "ago, whoever began them (parts an upload killed mid-way left: stored and billed until "
    "aborted; a mount aborts its own agent's at its next start)",
)
@click.option(
    "--upload-age",
    type=click.FloatRange(min=0),
    default=STALE_UPLOAD_S,
    show_default=True,
    help="seconds an upload must have run to count as abandoned for --abort-uploads",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON report instead of lines")
def doctor(
    contenders: int, abort_uploads: bool, upload_age: float, as_json: bool, **kwargs: Any
) -> None:
    """Prove a backend is safe to coordinate on: reachability, credentials, and a
    live race of conditional writes.

    Exit 0 when SAFE; 1 when UNSAFE (the store answered but does not enforce
    conditional writes); 3 when MISCONFIGURED (no bucket, no or refused
    credentials, a bad setting); 4 when UNREACHABLE (nothing answered at the
    endpoint); 2 on bad usage.  The last two verdicts come with a fix line."""
    from tcfs import doctor as logic

    try:
        settings = settings_from(kwargs)
    except click.ClickException as exc:
        raise click.UsageError(exc.message) from exc

    def emit(check: logic.Check) -> None:
        if not as_json:
            mark = "~" if check.difference else ("✓" if check.ok else "✗")
            click.echo(f"{mark} {check.name}: {check.detail}")

    try:
        store = _open(settings)
    except TcfsError as exc:
        target = f"{settings.backend}:{settings.bucket}/{settings.project}"
        report = logic.setup_failed(
            target,
            exc,
            settings.backend,
            settings.bucket,
            settings.get("endpoint"),
        )
        emit(report.checks[-1])
    else:
        if not as_json:
            click.echo(f"tcfs doctor: {store.describe()}")
        try:
            report = logic.run(store, contenders=contenders, emit=emit)
            if abort_uploads:
                logic.abort_stale_uploads(store, report, emit, upload_age)
        finally:
            store.close()

    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif report.safe:
        departures = sum(1 for c in report.checks if c.difference)
        if departures:
            click.echo(f"{departures} difference(s) from AWS (~): tcfs stays correct on each")
        click.echo(f"SAFE: {report.reason}")
    else:
        click.echo(f"{report.verdict}: {report.reason}")
        if report.fix:
            click.echo(f"fix: {report.fix}")
    sys.exit(report.exit_code)

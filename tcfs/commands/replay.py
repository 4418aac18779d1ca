"""``tcfs replay``: the project's history as one self-contained HTML page,
``--serve`` to keep it live, ``--verify`` to check the event log's chains."""

from __future__ import annotations

import ipaddress
import signal
import sys
from pathlib import Path
from typing import Any

import click

from tcfs.commands.common import settings_from, store_options
from tcfs.errors import TcfsError


def _serve_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give PORT or HOST:PORT", param_hint="--serve"
        ) from None
    return host, number


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("replay")
@store_options
@click.option(
    "--agent",
    "agents",
    default=None,
    show_default="every agent",
    help="show only these agents' events (comma-separated ids)",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    show_default="replay-<project>.html",
    help="the HTML file to write",
)
@click.option(
    "--serve",
    "serve",
    default=None,
    metavar="[HOST:]PORT",
    show_default="write --out",
    help="serve the page live instead (host 127.0.0.1 unless given)",
)
@click.option(
    "--since",
    default=None,
    show_default="the project's start",
    help="only events from this time (ISO) or age (30m, 2h) on",
)
@click.option(
    "--step",
    "steps",
    multiple=True,
    show_default="every step",
    help="only events of this step (repeatable)",
)
@click.option(
    "--verify", is_flag=True, help="check each agent's event chain and report gaps and edits"
)
@click.option("--no-transcripts", is_flag=True, help="leave the mirrored transcripts out")
def replay(**kwargs: Any) -> None:
    """Render the project's history as one HTML page (no network needed to view it)."""
    from tcfs.replay import collect
    from tcfs.store import open_store

    agents = kwargs.pop("agents")
    settings = settings_from(kwargs)
    try:
        filters = collect.Filters(
            since=collect.parse_since(kwargs["since"]) if kwargs["since"] else None,
            agents=frozenset(a for a in (agents or "").split(",") if a),
            steps=frozenset(kwargs["steps"]),
        )
    except TcfsError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    try:
        store = open_store(settings)
    except TcfsError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if kwargs["verify"]:
            sys.exit(_verify(store))
        if kwargs["serve"]:
            _serve(store, filters, kwargs["serve"])
            return
        _write(
            store,
            filters,
            kwargs["out"] or Path(f"replay-{settings.project}.html"),
            transcripts=not kwargs["no_transcripts"],
        )
    finally:
        store.close()


def _verify(store: Any) -> int:
    from tcfs.protocol.events.reader import read_log
    from tcfs.protocol.events.verify import chain_summary, verify

    events, malformed = read_log(store)
    problems = verify(events, malformed)
    counts = chain_summary(events)
    broken = {p.agent for p in problems}
    for agent, n in sorted(counts.items()):
        state = "problems below" if agent in broken else "chain intact"
        click.echo(f"{agent}: {n} event(s), {state}")
    for p in problems:
        click.echo(f"  {p.what}: {p.agent}: {p.message}")
    if not counts and not problems:
        click.echo("no events in the log")
    verdict = "FAIL" if problems else "OK"
    click.echo(f"{verdict}: {len(problems)} problem(s) in {sum(counts.values())} event(s)")
    return 1 if problems else 0


def _write(store: Any, filters: Any, out: Path, *, transcripts: bool) -> None:
    from tcfs.replay.page import build

    html = build(store, filters, transcripts=transcripts)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    click.echo(
        f"wrote {out} ({len(html.encode()) / 1e6:.1f} MB); open it in a browser, no network needed"
    )


def _serve(store: Any, filters: Any, address: str) -> None:
    from tcfs.replay.serve import ReplayServer

    host, port = _serve_address(address)
    if not _is_loopback(host):
        click.echo(f"warning: serving on {host}, reachable beyond this machine", err=True)
    try:
        server = ReplayServer(store, filters, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc

    def stop(_signum: int, _frame: object) -> None:
        import threading

        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"serving {server.url} (Ctrl-C to stop)", err=False)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass

"""``tcfs instructions HARNESS``: the text for the harness's AGENTS.md / CLAUDE.md / GEMINI.md."""

from __future__ import annotations

import os
from pathlib import Path

import click

from tcfs import harnesses
from tcfs.hooks import hookfile, markedblock
from tcfs.hooks.instructions import target, text

TAG = "instructions"


@click.command()
@click.argument("harness", type=click.Choice(harnesses.names()))
@click.option(
    "--mount", "mountpoint", default="/mnt/tc", show_default=True, help="the agent's mountpoint"
)
@click.option(
    "--install",
    "put",
    is_flag=True,
    help="write the text into the file HARNESS reads (a marked block, replaced when run again)",
)
@click.option("--uninstall", "take", is_flag=True, help="remove that block again")
def instructions(harness: str, mountpoint: str, put: bool, take: bool) -> None:
    """Print the coordination text for HARNESS's instruction file.

    The hooks (`tcfs hooks install`) deliver mail by themselves; this text is
    for an agent run without them, or one that should know the paths.  With
    `--install` it goes where HARNESS reads it: the project's CLAUDE.md,
    GEMINI.md or AGENTS.md, and for OpenClaw the AGENTS.md of its workspace.
    """
    cwd = Path.cwd()
    path = target(harness, cwd)
    try:
        if take:
            gone = markedblock.uninstall(path, TAG)
            click.echo(f"removed tcfs's instructions from {path}" if gone else f"none in {path}")
            return
        body = text(os.path.abspath(mountpoint), harness)
        if put:
            changed = markedblock.install(path, TAG, body)
            click.echo(f"{'wrote' if changed else 'already in'} {path}: tcfs's instructions")
            return
    except hookfile.SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"tcfs: for {path.name if path.parent == cwd else path}", err=True)
    click.echo(body, nl=False)

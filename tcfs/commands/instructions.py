"""``tcfs instructions HARNESS``: the text for the harness's AGENTS.md / CLAUDE.md / GEMINI.md."""

from __future__ import annotations

import os

import click

from tcfs.hooks.instructions import FILES, text


@click.command()
@click.argument("harness", type=click.Choice(sorted(FILES)))
@click.option(
    "--mount", "mountpoint", default="/mnt/tc", show_default=True, help="the agent's mountpoint"
)
def instructions(harness: str, mountpoint: str) -> None:
    """Print the coordination text for HARNESS's instruction file.

    The hooks (`tcfs hooks install`) deliver mail by themselves; this text is
    for an agent run without them, or one that should know the paths.  Append
    it to the file named on stderr, e.g.
    `tcfs instructions codex --mount /mnt/tc >> AGENTS.md`.
    """
    click.echo(f"tcfs: for {FILES[harness]}", err=True)
    click.echo(text(os.path.abspath(mountpoint)), nl=False)

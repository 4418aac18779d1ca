"""``tcfs instructions HARNESS``: the text for the harness's AGENTS.md / CLAUDE.md / GEMINI.md."""

from __future__ import annotations

import os

import click

from tcfs.hooks.instructions import FILES, NO_HOOKS, text


@click.command()
@click.argument("harness", type=click.Choice(sorted(FILES)))
@click.option(
    "--mount", "mountpoint", default="/mnt/tc", show_default=True, help="the agent's mountpoint"
)
def instructions(harness: str, mountpoint: str) -> None:
    """Print the coordination text for HARNESS's instruction file.

    For a harness without tcfs hooks this is how its agent learns to read its
    mail; append it to the file named on stderr, e.g.
    `tcfs instructions opencode --mount /mnt/tc >> AGENTS.md`.
    """
    file = FILES[harness]
    why = NO_HOOKS.get(harness, (file, None))[1]
    note = f"for {file}" + (f" ({why})" if why else " (the hooks deliver mail as well)")
    click.echo(f"tcfs: {note}", err=True)
    click.echo(text(os.path.abspath(mountpoint)), nl=False)

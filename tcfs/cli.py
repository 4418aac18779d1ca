"""The ``tcfs`` command: init / mount / umount / status / mirror / doctor.

Each command lives in its own module under ``tcfs.commands`` and is imported
only when it runs, so ``tcfs status`` never pays for boto3 or pyfuse3.
"""

from __future__ import annotations

import importlib
import sys

import click

from tcfs import __version__
from tcfs.errors import TcfsError

COMMANDS = {
    "init": ("tcfs.commands.init", "init", "Write a config file for the other commands."),
    "mount": ("tcfs.commands.mount", "mount", "Mount a project of the bucket as an agent."),
    "umount": ("tcfs.commands.mount", "umount", "Unmount and stop the daemon."),
    "status": ("tcfs.commands.mount", "status", "List this machine's mounts and their health."),
    "mirror": ("tcfs.commands.mirror", "mirror", "Mirror agent transcripts into sessions/."),
    "doctor": ("tcfs.commands.doctor", "doctor", "Prove a backend is safe to coordinate on."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="tcfs")
def cli() -> None:
    """Coordinate coding agents through a bucket you own, mounted as a filesystem."""


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="tcfs", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except TcfsError as exc:
        click.echo(f"tcfs: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

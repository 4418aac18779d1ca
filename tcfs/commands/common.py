"""Options every command shares, and their resolution into ``Settings``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tcfs import config
from tcfs.errors import TcfsError

F = TypeVar("F", bound=Callable[..., Any])

BACKEND_OPTIONS = ("backend", "bucket", "project", "agent", "endpoint", "region", "path_style")


def backend_options(f: F) -> F:
    """--backend --bucket --project --agent --endpoint --region --path-style."""
    opts = [
        click.option(
            "--backend",
            type=click.Choice(config.BACKENDS),
            default=None,
            show_default=config.Settings.backend,
            help="where the bucket is  [env TCFS_BACKEND]",
        ),
        click.option(
            "--bucket",
            default=None,
            show_default="for local, $TCFS_HOME/bucket",
            help="bucket name; for local, a directory  [env TCFS_BUCKET]",
        ),
        click.option(
            "--project",
            default=None,
            show_default="the working directory's name",
            help="project inside the bucket  [env TCFS_PROJECT]",
        ),
        click.option(
            "--agent",
            default=None,
            show_default="your user name",
            help="this agent's id  [env TCFS_AGENT or TRACECRAFT_AGENT]",
        ),
        click.option(
            "--endpoint", default=None, help="S3 endpoint URL (R2, MinIO, ...)  [env TCFS_ENDPOINT]"
        ),
        click.option("--region", default=None, help="S3 region  [env TCFS_REGION]"),
        click.option(
            "--path-style/--virtual-host-style",
            "path_style",
            default=None,
            help="S3 addressing (default: path-style with --endpoint)",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def settings_from(kwargs: dict[str, Any], **extra: Any) -> config.Settings:
    """Resolve the shared options (popped from ``kwargs``) plus ``extra``."""
    flags = {k: kwargs.pop(k, None) for k in BACKEND_OPTIONS}
    flags.update(extra)
    try:
        return config.resolve(**flags)
    except TcfsError as exc:
        raise click.ClickException(str(exc)) from exc

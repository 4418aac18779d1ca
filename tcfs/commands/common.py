"""Options every command shares, and their resolution into ``Settings``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tcfs import config
from tcfs.errors import TcfsError

F = TypeVar("F", bound=Callable[..., Any])

BACKEND_OPTIONS = ("backend", "bucket", "project", "agent", "endpoint", "region", "path_style")


Decorator = Callable[[Any], Any]


def _options(*, agent: bool) -> list[Decorator]:
    """The shared options, in the order ``--help`` lists them."""
    opts: list[Decorator] = [
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
    ]
    if agent:
        opts.append(
            click.option(
                "--agent",
                default=None,
                show_default="your user name",
                help="this agent's id  [env TCFS_AGENT or TRACECRAFT_AGENT]",
            )
        )
    return [
        *opts,
        click.option(
            "--endpoint",
            default=None,
            show_default="AWS S3; for hf, the Hub or $HF_ENDPOINT",
            help="S3 endpoint URL (R2, MinIO, ...)  [env TCFS_ENDPOINT]",
        ),
        click.option(
            "--region",
            default=None,
            show_default="us-east-1 with --endpoint, else the AWS configuration's",
            help="S3 region  [env TCFS_REGION]",
        ),
        click.option(
            "--path-style/--virtual-host-style",
            "path_style",
            default=None,
            help="S3 addressing (default: path-style with --endpoint)",
        ),
    ]


def _apply(f: F, opts: list[Decorator]) -> F:
    for opt in reversed(opts):
        f = opt(f)
    return f


def backend_options(f: F) -> F:
    """--backend --bucket --project --agent --endpoint --region --path-style."""
    return _apply(f, _options(agent=True))


def store_options(f: F) -> F:
    """The backend options without --agent, for a command that acts as no agent
    (and may give --agent a meaning of its own)."""
    return _apply(f, _options(agent=False))


def seconds_option(name: str, default: float, help: str) -> Decorator:
    """An option in seconds, left unset (None) so env and config can fill it in."""
    return click.option(name, type=float, default=None, show_default=f"{default:g}", help=help)


def lease_options(f: F) -> F:
    """--lease-ttl --wait-timeout: what ``tcfs mount`` uses and ``tcfs init`` saves."""
    return _apply(
        f,
        [
            seconds_option(
                "--lease-ttl",
                config.Settings.lease_ttl,
                "lease length in seconds (renewed while mounted)  [env TCFS_LEASE_TTL]",
            ),
            seconds_option(
                "--wait-timeout",
                config.Settings.wait_timeout,
                "seconds steps/<id>/wait and inbox/next block  [env TCFS_WAIT_TIMEOUT]",
            ),
        ],
    )


def settings_from(kwargs: dict[str, Any], **extra: Any) -> config.Settings:
    """Resolve the shared options (popped from ``kwargs``) plus ``extra``."""
    flags = {k: kwargs.pop(k, None) for k in BACKEND_OPTIONS}
    flags.update(extra)
    try:
        return config.resolve(**flags)
    except TcfsError as exc:
        raise click.ClickException(str(exc)) from exc

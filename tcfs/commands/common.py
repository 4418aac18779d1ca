"""Options every command shares, and their resolution into ``Settings``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from tcfs import config, store
from tcfs.config import Option
from tcfs.errors import TcfsError

F = TypeVar("F", bound=Callable[..., Any])

#: the options every command that reaches the bucket takes: the common ones and each backend's
BACKEND_OPTIONS = tuple(o for o in store.OPTIONS if o.flag and o not in config.MOUNT_OPTIONS)

Decorator = Callable[[Any], Any]


def option(declared: Option) -> Decorator:
    """A declared option as a click option, left unset (None) so that env and
    config can fill it in."""
    assert declared.flag is not None
    env = " or ".join(declared.env)
    default = declared.show_default
    if default is None and declared.default not in (None, ""):
        default = f"{declared.default:g}" if declared.parse is float else str(declared.default)
    kind: Any = None
    if declared.name == "backend":
        kind = click.Choice(list(store.BACKENDS))
    elif declared.parse is float:
        kind = float
    return click.option(
        declared.flag,
        declared.name,
        type=kind,
        default=None,
        show_default=default,
        help=f"{declared.help}  [env {env}]" if env else declared.help,
    )


def _apply(f: F, options: Iterable[Option]) -> F:
    for declared in reversed(tuple(options)):
        f = option(declared)(f)
    return f


def backend_options(f: F) -> F:
    """--backend --bucket --project --agent and each backend's (--endpoint ...)."""
    return _apply(f, BACKEND_OPTIONS)


def store_options(f: F) -> F:
    """The backend options without --agent, for a command that acts as no agent
    (and may give --agent a meaning of its own)."""
    return _apply(f, (o for o in BACKEND_OPTIONS if o is not config.AGENT))


def lease_options(f: F) -> F:
    """--lease-ttl --wait-timeout: what ``tcfs mount`` uses and ``tcfs init`` saves."""
    return _apply(f, (config.LEASE_TTL, config.WAIT_TIMEOUT))


def settings_from(kwargs: dict[str, Any], **extra: Any) -> config.Settings:
    """Resolve the shared options (popped from ``kwargs``) plus ``extra``."""
    flags = {o.name: kwargs.pop(o.name, None) for o in BACKEND_OPTIONS}
    flags.update(extra)
    try:
        return store.resolve(**flags)
    except TcfsError as exc:
        raise click.ClickException(str(exc)) from exc

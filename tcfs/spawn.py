"""The command line that runs ``tcfs`` again in a child process (the mount
daemon, the mirror, the demo's helpers).

``python -m tcfs`` puts the working directory first on ``sys.path``, so a
``tcfs/`` folder there (a clone's parent directory, say) would be imported
instead of the package that is running.  ``-P`` would stop that but needs
Python 3.11, and ``-I`` also drops ``PYTHONPATH`` and the user's site
packages, which a checkout run in place depends on.  So the child starts from
a short ``-c`` program that takes the working directory off ``sys.path`` and
puts first the directory this very package was imported from.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tcfs

#: where this package was imported from: the child imports the same one
PACKAGE_ROOT = str(Path(tcfs.__file__).resolve().parent.parent)

# ``-c`` puts "" (the working directory) first on sys.path; one line, as ``ps`` shows it
_BOOT = (
    "import sys; "
    "sys.path[:] = [{root!r}] + [p for p in sys.path if p not in ('', {root!r})]; "
    "from tcfs.cli import main; sys.exit(main())"
)


def tcfs_command(*args: str) -> list[str]:
    """``tcfs ARGS...`` as argv for ``subprocess``, with this interpreter."""
    return [sys.executable, "-c", _BOOT.format(root=PACKAGE_ROOT), *args]

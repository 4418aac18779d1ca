"""The kernel's readahead on a mount: 1 MiB instead of 128 KiB.

A sequential reader of an artifact (``cp``, ``cat``) gets the kernel's
readahead as FUSE reads; at the default 128 KiB a 2 GiB copy is 16,384
requests through Python, at 1 MiB (what libfuse negotiates per request,
``max_pages``) 2,048.  The window is the mount's backing device's
(``/sys/class/bdi/<major>:<minor>/read_ahead_kb``), which only root can
widen, and the kernel sets it when it has the daemon's answer to ``INIT``:
so it is widened once the mount answers, and a failure only costs speed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

READ_AHEAD_KB = 1024
BDI = Path("/sys/class/bdi")


def bdi_file(mountpoint: str) -> Path:
    """The readahead setting of the device ``mountpoint`` is on (stat blocks
    until the kernel's ``INIT`` is answered)."""
    dev = os.stat(mountpoint).st_dev
    return BDI / f"{os.major(dev)}:{os.minor(dev)}" / "read_ahead_kb"


def widen(mountpoint: str, kb: int = READ_AHEAD_KB) -> bool:
    """Set the mount's readahead to at least ``kb``; whether it is."""
    try:
        path = bdi_file(mountpoint)
        if int(path.read_text()) < kb:
            path.write_text(str(kb))
        return True
    except (OSError, ValueError) as exc:  # not root, no sysfs: the default stays
        log.debug("readahead of %s stays the kernel's: %s", mountpoint, exc)
        return False

"""Test only: this process's wall clock moved by ``TCFS_TEST_CLOCK_SHIFT`` seconds.

A daemon started with this directory first on ``PYTHONPATH`` runs as if its
machine's clock were that far off: ``time.time``, ``time.time_ns`` and
``datetime.now`` / ``utcnow`` move; the monotonic clock does not (it does not
on a real machine either).  libfaketime would do it from outside, but it
breaks CPython 3.11.
"""

from __future__ import annotations

import datetime as _datetime
import os
import time as _time

SHIFT_S = float(os.environ.get("TCFS_TEST_CLOCK_SHIFT") or 0.0)

if SHIFT_S:
    _real_time, _real_time_ns = _time.time, _time.time_ns
    _time.time = lambda: _real_time() + SHIFT_S
    _time.time_ns = lambda: _real_time_ns() + int(SHIFT_S * 1e9)
    _SHIFT = _datetime.timedelta(seconds=SHIFT_S)

    class _ShiftedDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> _ShiftedDatetime:
            return super().now(tz) + _SHIFT  # type: ignore[return-value]

        @classmethod
        def utcnow(cls) -> _ShiftedDatetime:
            return super().utcnow() + _SHIFT  # type: ignore[return-value]

    _datetime.datetime = _ShiftedDatetime  # type: ignore[misc]

"""The store's clock as its answers' Date headers show it."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from tcfs.store.clock import StoreClock


def date(t: float) -> str:
    return formatdate(t, usegmt=True)


def test_answers_narrow_the_offset_to_below_the_dates_resolution() -> None:
    clock = StoreClock()
    assert clock.offset is None and "unknown" in clock.describe_skew()
    # the store is 30.4 s behind this machine; answers sent at varied fractions
    for sent in (1000.0, 1010.3, 1020.6, 1030.9):
        clock.observe(date(sent - 30.4 + 0.05), sent, sent + 0.1)
    assert clock.offset == pytest.approx(-30.4, abs=0.3)
    assert "s ahead of the store's" in clock.describe_skew()


def test_a_stepped_clock_starts_over() -> None:
    clock = StoreClock()
    for sent in (1000.0, 1010.5):
        clock.observe(date(sent), sent, sent + 0.1)
    clock.observe(date(2000.0 + 120), 2000.0, 2000.1)  # this machine's clock went back 120 s
    assert clock.offset == pytest.approx(120, abs=1)
    assert "behind the store's" in clock.describe_skew()


def test_one_machine_has_no_skew() -> None:
    clock = StoreClock(same_machine=True)
    clock.observe(date(5000.0), 1000.0, 1000.1)
    assert clock.offset == 0.0 and "no skew" in clock.describe_skew()

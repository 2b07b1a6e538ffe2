from datetime import UTC, datetime

import pytest

from ledger.periods import NONE_PERIOD_START, period_bounds


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "moment", "start", "end"),
    [
        ("day", at(2026, 11, 24, 23, 59), at(2026, 11, 24), at(2026, 11, 25)),
        ("week", at(2026, 11, 24, 12), at(2026, 11, 23), at(2026, 11, 30)),  # a Tuesday
        ("week", at(2026, 11, 23, 0), at(2026, 11, 23), at(2026, 11, 30)),  # Monday 00:00
        ("week", at(2026, 11, 22, 23, 59), at(2026, 11, 16), at(2026, 11, 23)),  # Sunday
        ("week", at(2027, 1, 1), at(2026, 12, 28), at(2027, 1, 4)),  # ISO week across years
        ("month", at(2026, 11, 30, 23, 59), at(2026, 11, 1), at(2026, 12, 1)),
        ("month", at(2026, 12, 31), at(2026, 12, 1), at(2027, 1, 1)),
        ("month", at(2028, 2, 29), at(2028, 2, 1), at(2028, 3, 1)),
        ("none", at(2026, 11, 24), NONE_PERIOD_START, None),
    ],
)
def test_period_bounds(period: str, moment: datetime, start: datetime, end: datetime) -> None:
    assert period_bounds(period, moment) == (start, end)


def test_moments_in_other_zones_are_placed_in_utc() -> None:
    from datetime import timedelta, timezone

    tokyo = timezone(timedelta(hours=9))
    # 2026-12-01 08:00 in Tokyo is still November in UTC.
    assert period_bounds("month", datetime(2026, 12, 1, 8, tzinfo=tokyo))[0] == at(2026, 11, 1)

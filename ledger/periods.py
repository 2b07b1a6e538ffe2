"""Budget periods: where the period containing a moment starts and ends, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.models import Period

# The one period of a team whose budget never resets.
NONE_PERIOD_START = datetime(1970, 1, 1, tzinfo=UTC)


def period_bounds(period: Period | str, at: datetime) -> tuple[datetime, datetime | None]:
    """Return ``(start, end)`` of the period containing ``at``; ``end`` is exclusive, None for
    ``none``. Weeks are ISO weeks (Monday 00:00 UTC), months calendar months."""
    at = at.astimezone(UTC)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    match Period(period):
        case Period.NONE:
            return NONE_PERIOD_START, None
        case Period.DAY:
            return midnight, midnight + timedelta(days=1)
        case Period.WEEK:
            start = midnight - timedelta(days=midnight.weekday())
            return start, start + timedelta(days=7)
        case Period.MONTH:
            start = midnight.replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1)
            return start, end

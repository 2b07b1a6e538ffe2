"""Budget periods: where the period containing a moment starts and ends, in UTC; and the one
parser of the moments that bound windows (reports, listings, drift, observed prices, the CLI)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from ledger.errors import InvalidInput
from ledger.models import Period

# The one period of a team whose budget never resets.
NONE_PERIOD_START = datetime(1970, 1, 1, tzinfo=UTC)

# The moments a window may name. Nothing in a ledger predates the `none` period's start; the
# end leaves a year of room below datetime's limit, so that the arithmetic done with a bound
# (the day after an end date, a billing time zone's offset, a week's or a month's start) can
# never overflow.
EARLIEST_MOMENT = NONE_PERIOD_START
LATEST_MOMENT = datetime(9999, 1, 1, tzinfo=UTC)


def parse_moment(raw: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date or timestamp as a UTC moment (UTC unless it says otherwise); None if
    absent or empty. A date is its midnight, or with ``end`` the midnight after it (the end of
    that day). A moment outside :data:`EARLIEST_MOMENT` to :data:`LATEST_MOMENT` is refused, as
    is anything else that is not such a moment: :class:`InvalidInput` naming ``name``."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    try:
        if len(raw) == 10:
            moment = datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
            if end:
                moment += timedelta(days=1)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            moment = moment.astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date or timestamp", field=name) from None
    except OverflowError:  # 9999-12-31 as an end, 0001-01-01T00:00+14:00 in UTC
        moment = None
    if moment is None or not EARLIEST_MOMENT <= moment <= LATEST_MOMENT:
        raise InvalidInput(
            f"{name} must be between {EARLIEST_MOMENT:%Y-%m-%d} and {LATEST_MOMENT:%Y-%m-%d}",
            field=name,
        )
    return moment


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

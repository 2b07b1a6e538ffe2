"""LEDGER_BILLING_TIMEZONE: periods, report days and rollups begin at local midnight there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ledger import accounting, audit, billing_zone, reports, teams
from ledger.config import SettingsError, load_settings
from ledger.db import Database
from ledger.models import Alert, Balance, Job
from ledger.periods import parse_moment, period_bounds
from ledger.zones import use_billing_zone

LA = "America/Los_Angeles"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def job_at(database: Database, team_id: int, created: datetime, credits: int, *, charged: int,
           tags: dict[str, str] | None = None) -> str:  # fmt: skip
    with database.write() as session:
        job = accounting.reserve(
            session, team_id, credits, endpoint="image-to-video", kind="video", tags=tags,
            now=created,
        )  # fmt: skip
        job_id = job.id
    with database.write() as session:
        accounting.settle(session, job_id, charged, now=created)
    return job_id


def balance_bounds(database: Database, job_id: str) -> tuple[datetime, datetime | None]:
    with database.read() as session:
        job = session.get_one(Job, job_id)
        balance = session.get_one(Balance, job.balance_id)
        return balance.period_start, balance.period_end


def test_a_bad_zone_stops_at_start_in_one_line() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"LEDGER_BILLING_TIMEZONE": "Mars/Olympus_Mons"})
    assert str(raised.value).startswith("LEDGER_BILLING_TIMEZONE: must be an IANA time zone")
    assert "\n" not in str(raised.value)
    for bad in ("../etc/passwd", "/etc/localtime", " "):
        with pytest.raises(SettingsError):
            load_settings({}, billing_timezone=bad)
    assert load_settings({}).billing_timezone == "UTC"
    assert load_settings({"LEDGER_BILLING_TIMEZONE": LA}).billing_timezone == LA


def test_month_periods_begin_at_midnight_in_los_angeles_across_the_dst_change() -> None:
    zone = use_billing_zone(LA)
    # Midnight on 1 November is still daylight time (UTC-7): the clocks go back at 02:00.
    assert period_bounds("month", utc("2026-11-01T06:59:59"), zone) == (
        utc("2026-10-01T07:00"),
        utc("2026-11-01T07:00"),
    )
    november = period_bounds("month", utc("2026-11-01T07:00"), zone)
    assert november == (utc("2026-11-01T07:00"), utc("2026-12-01T08:00"))  # 30 days + 1 hour
    # The day of the change is one period of 25 hours; the spring one is 23 hours.
    start, end = period_bounds("day", utc("2026-11-01T12:00"), zone)
    assert (start, end) == (utc("2026-11-01T07:00"), utc("2026-11-02T08:00"))
    start, end = period_bounds("day", utc("2026-03-08T12:00"), zone)
    assert end - start == utc("2026-01-01T23:00") - utc("2026-01-01T00:00")
    assert period_bounds("week", utc("2026-11-04T12:00"), zone) == (
        utc("2026-11-02T08:00"),
        utc("2026-11-09T08:00"),
    )
    assert parse_moment("2026-11-01", "from") == utc("2026-11-01T07:00")
    assert parse_moment("2026-11-01", "to", end=True) == utc("2026-11-02T08:00")


def test_utc_stays_as_it_was() -> None:
    assert period_bounds("month", utc("2026-11-01T07:30")) == (
        utc("2026-11-01T00:00"),
        utc("2026-12-01T00:00"),
    )
    assert parse_moment("2026-11-01", "from") == utc("2026-11-01T00:00")


@pytest.mark.parametrize(
    ("zone", "last_of_october", "first_of_november", "november_starts"),
    [
        # America/Los_Angeles is on daylight time at midnight on 1 November 2026 (UTC-7).
        (LA, "2026-11-01T06:30", "2026-11-01T07:30", "2026-11-01T07:00"),
        # Pacific Standard Time all year (UTC-8): the 07:30Z and 08:30Z.
        ("Etc/GMT+8", "2026-11-01T07:30", "2026-11-01T08:30", "2026-11-01T08:00"),
    ],
)
def test_a_job_belongs_to_the_local_months_period_and_report(
    database: Database, zone: str, last_of_october: str, first_of_november: str,
    november_starts: str,
) -> None:  # fmt: skip
    billing_zone.adopt(database, zone)
    use_billing_zone(zone)
    with database.write() as session:
        team = teams.create_team(session, "acme", budget_credits=1000, now=utc("2026-10-20T12:00"))
    october_job = job_at(database, team.id, utc(last_of_october), 100, charged=90)
    november_job = job_at(database, team.id, utc(first_of_november), 50, charged=40)

    assert balance_bounds(database, october_job)[1] == utc(november_starts)
    assert balance_bounds(database, november_job)[0] == utc(november_starts)
    with database.read() as session:
        october = reports.spend_report(
            session,
            start=parse_moment("2026-10-01", "from"),
            end=parse_moment("2026-11-01", "to"),
            group_by=["team", "month"],
        )
        november = reports.spend_report(
            session,
            start=parse_moment("2026-11-01", "from"),
            end=parse_moment("2026-12-01", "to"),
            group_by=["team", "month"],
        )
        assert [(r["month"], r["jobs"], r["spent"]) for r in october.rows] == [("2026-10", 1, 90)]
        assert [(r["month"], r["jobs"], r["spent"]) for r in november.rows] == [("2026-11", 1, 40)]
        assert audit.run(session).violations == []


def test_a_day_report_over_the_dst_weekend_has_one_row_per_local_day(database: Database) -> None:
    billing_zone.adopt(database, LA)
    use_billing_zone(LA)
    with database.write() as session:
        team = teams.create_team(
            session, "acme", budget_credits=10_000, now=utc("2026-10-20T12:00")
        )
    created = [
        "2026-10-31T19:00",  # Sat 31 Oct 12:00 PDT
        "2026-11-01T07:30",  # Sun 1 Nov 00:30 PDT
        "2026-11-01T09:30",  # Sun 1 Nov 01:30 PST, the second 01:30 of that night
        "2026-11-02T07:30",  # Sun 1 Nov 23:30 PST
        "2026-11-02T18:00",  # Mon 2 Nov 10:00 PST
    ]
    for i, moment in enumerate(created):
        job_at(database, team.id, utc(moment), 100, charged=10 * (i + 1), tags={"env": "prod"})
    expected = [("2026-10-31", 1, 10), ("2026-11-01", 3, 20 + 30 + 40), ("2026-11-02", 1, 50)]
    with database.read() as session:
        for group_by in (["day"], ["day", "tag:env"], ["team", "day"]):
            for start, end in (("2026-10-31", "2026-11-03"), ("2026-10-31T12:00", "2026-11-03")):
                report = reports.spend_report(
                    session,
                    start=parse_moment(start, "from"),
                    end=parse_moment(end, "to"),
                    group_by=group_by,
                )
                assert [(r["day"], r["jobs"], r["spent"]) for r in report.rows] == expected
        week = reports.spend_report(
            session,
            start=parse_moment("2026-10-26", "from"),
            end=parse_moment("2026-11-09", "to"),
            group_by=["week"],
        )
        assert [(r["week"], r["jobs"]) for r in week.rows] == [("2026-10-26", 4), ("2026-11-02", 1)]
        assert audit.run(session).violations == []


def test_moving_a_database_to_another_zone_keeps_its_money_and_passes_audit(
    database: Database,
) -> None:
    now = utc("2026-11-15T12:00")
    with database.write() as session:
        acme = teams.create_team(session, "acme", budget_credits=1000, now=utc("2026-10-20T12:00"))
        daily = teams.create_team(session, "daily", budget_credits=500, period="day", now=now)
    for moment, credits in (("2026-10-31T23:00", 100), ("2026-11-01T03:00", 70),
                            ("2026-11-10T12:00", 30)):  # fmt: skip
        job_at(database, acme.id, utc(moment), credits, charged=credits)
    job_at(database, daily.id, now, 20, charged=20)
    with database.read() as session:
        before = {t.slug: accounting.balance_of(session, t, now=now).available
                  for t in (acme, daily)}  # fmt: skip
    assert billing_zone.adopt(database, LA, now=now) is True
    assert billing_zone.adopt(database, LA, now=now) is False  # once
    use_billing_zone(LA)
    with database.read() as session:
        acme_row, daily_row = (session.get_one(type(t), t.id) for t in (acme, daily))
        after = {t.slug: accounting.balance_of(session, t, now=now) for t in (acme_row, daily_row)}
        assert {slug: b.available for slug, b in after.items()} == before  # nothing invented
        assert after["acme"].period_start == utc("2026-11-01T07:00")
        assert after["acme"].period_end == utc("2026-12-01T08:00")
        assert after["daily"].period_start == utc("2026-11-15T08:00")
        assert audit.run(session).violations == []
        october = reports.spend_report(
            session,
            start=parse_moment("2026-10-01", "from"),
            end=parse_moment("2026-11-01", "to"),
            group_by=["day"],
        )
        # Both jobs before 07:00Z on 1 November were on 31 October in Los Angeles.
        assert [(r["day"], r["spent"]) for r in october.rows] == [("2026-10-31", 170)]
    with pytest.raises(SettingsError, match="keeps its days in America/Los_Angeles"):
        billing_zone.check(database, "UTC")


def test_under_reserved_alerts_once_per_local_month(database: Database) -> None:
    # 03:00Z on 1 December is still 30 November in Los Angeles: the same billing month as a
    # charge at 20:00Z the day before, so one alert; 09:00Z (01:00 local) is December's.
    billing_zone.adopt(database, LA)
    use_billing_zone(LA)
    with database.write() as session:
        team = teams.create_team(session, "acme", budget_credits=10_000, now=utc("2026-11-20"))
    priced = {"resolution": "720p", "audio": False, "basis": "table", "table_credits": 100}

    def under_reserved_at(moment: str) -> list[str]:
        with database.write() as session:
            job = accounting.reserve(
                session, team.id, 100, endpoint="image-to-video", kind="video",
                model="kling-3.0", priced=priced, now=utc(moment),
            )  # fmt: skip
        with database.write() as session:
            accounting.settle(session, job.id, 120, now=utc(moment))
        with database.read() as session:
            alerts = session.scalars(select(Alert).where(Alert.kind == "under_reserved"))
            return sorted(alert.dedupe_key.split(":")[1] for alert in alerts)

    assert under_reserved_at("2026-11-30T20:00") == ["2026-11"]
    assert under_reserved_at("2026-12-01T03:00") == ["2026-11"]
    assert under_reserved_at("2026-12-01T09:00") == ["2026-11", "2026-12"]
    with database.read() as session:
        assert audit.run(session).violations == []

"""The chargeback: a billing month's invoice at the plan's bands, split over the teams in cents
that add up exactly, with what ledger did not see as an unattributed row."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledger import accounting, billing_zone, chargeback, teams
from ledger.cli import main
from ledger.db import Database
from ledger.errors import Conflict, InvalidInput
from ledger.pricing.bands import banded_usd
from ledger.zones import use_billing_zone

NOVEMBER = date(2026, 11, 1)
# 1,250,000 credits over three teams, unevenly.
CREDITS = {"acme": 700_001, "beta": 500_000, "gamma": 49_999}


def spend(database: Database, slug: str, credits: int, created: datetime) -> None:
    with database.write() as session:
        team = teams.get_team(session, slug)
        job = accounting.reserve(
            session, team.id, credits, endpoint="image-to-video", kind="video", now=created
        )
        job_id = job.id
    with database.write() as session:
        accounting.settle(session, job_id, credits, now=created)


@pytest.fixture
def month_db(database: Database) -> Database:
    with database.write() as session:
        for slug in CREDITS:
            teams.create_team(
                session, slug, budget_credits=10**9, now=datetime(2026, 10, 1, tzinfo=UTC)
            )
    for slug, credits in CREDITS.items():
        spend(database, slug, credits - 1, datetime(2026, 11, 3, tzinfo=UTC))
        spend(database, slug, 1, datetime(2026, 11, 30, 23, tzinfo=UTC))
    spend(database, "acme", 5_000, datetime(2026, 10, 31, 23, tzinfo=UTC))  # October's
    spend(database, "beta", 7_000, datetime(2026, 12, 1, tzinfo=UTC))  # December's
    return database


@pytest.mark.parametrize(
    ("plan", "credits", "usd"),
    [
        # creator: 100,000 x $0.0012 + 900,000 x $0.00108 + 250,000 x $0.00096
        ("creator", 1_250_000, "1332.00"),
        ("creator", 100_000, "120.00"),
        ("creator", 100_001, "120.00108"),
        # pro: $195 + $1,579.50 + $6,240 + 1 x $0.001365
        ("pro", 5_000_001, "8014.501365"),
        # business: $250 + $2,025 + $8,000 + $8,750 + $60,000 + 10e6 x $0.00125
        ("business", 60_000_000, "91525.00"),
        ("creator", 0, "0"),
    ],
)
def test_the_bands_price_each_credit_inside_its_band(plan: str, credits: int, usd: str) -> None:
    assert banded_usd(credits, plan) == Decimal(usd)


def test_three_teams_share_the_invoice_in_cents_that_add_up(month_db: Database) -> None:
    with month_db.read() as session:
        found = chargeback.chargeback(session, NOVEMBER, plan="creator")
    document = found.as_json()
    # $1,332.00 = 133,200 cents; exact shares 74,592.107 / 53,280 / 5,327.893: the left-over
    # cent goes to the largest remainder (gamma's .893).
    assert [(r["team"], r["credits"], r["usd_cents"]) for r in document["rows"]] == [
        ("acme", 700_001, 74_592),
        ("beta", 500_000, 53_280),
        ("gamma", 49_999, 5_328),
    ]
    assert [r["usd"] for r in document["rows"]] == [745.92, 532.80, 53.28]
    assert document["invoice"]["usd_cents"] == 133_200 == document["totals"]["usd_cents"]
    assert document["invoice"]["credits"] == 1_250_000 == document["totals"]["credits"]
    assert document["month"] == "2026-11" and document["plan"] == "creator"

    rows = list(csv.reader(io.StringIO(found.as_csv())))
    assert rows[0] == ["team", "unattributed", "jobs", "held", "credits", "usd"]
    assert rows[1] == ["acme", "false", "2", "0", "700001", "745.92"]
    assert rows[-1] == ["total", "", "6", "0", "1250000", "1332.00"]
    assert found.as_csv().endswith("\r\n")


def test_the_real_invoice_shows_what_ledger_did_not_see(month_db: Database) -> None:
    with month_db.read() as session:
        by_usd = chargeback.chargeback(
            session, NOVEMBER, plan="creator", invoice_usd=Decimal("1400.00")
        ).as_json()
        by_credits = chargeback.chargeback(
            session, NOVEMBER, plan="creator", invoice_credits=1_300_000
        ).as_json()
    # invoice_usd alone: the teams pay their credits at the bands; the rest is unattributed.
    assert [r["usd_cents"] for r in by_usd["rows"]] == [74_592, 53_280, 5_328, 6_800]
    assert by_usd["rows"][-1] | {"usd": 68.0} == {
        "team": None, "unattributed": True, "jobs": None, "held": None, "credits": None,
        "usd_cents": 6_800, "usd": 68.0,
    }  # fmt: skip
    assert by_usd["totals"]["usd_cents"] == 140_000 == by_usd["invoice"]["usd_cents"]
    # invoice_credits: 1,300,000 at the bands is $1,380.00, every credit the same share of it;
    # 50,000 credits ledger never saw get theirs.
    assert by_credits["invoice"]["usd_cents"] == 138_000
    assert [(r["credits"], r["usd_cents"]) for r in by_credits["rows"]] == [
        (700_001, 74_308),
        (500_000, 53_077),
        (49_999, 5_307),
        (50_000, 5_308),
    ]
    assert sum(r["usd_cents"] for r in by_credits["rows"]) == 138_000


def test_ledger_seeing_more_than_was_billed_leaves_no_cent_unaccounted(month_db: Database) -> None:
    with month_db.read() as session:
        found = chargeback.chargeback(
            session, NOVEMBER, plan="creator", invoice_credits=1_000_000,
            invoice_usd=Decimal("1092.00"),
        ).as_json()  # fmt: skip
    assert found["rows"][-1]["credits"] == -250_000 and found["rows"][-1]["usd_cents"] == 0
    assert sum(r["usd_cents"] for r in found["rows"]) == 109_200


def test_a_flat_rate_overrides_the_bands_and_free_has_no_rates(month_db: Database) -> None:
    with month_db.read() as session:
        flat = chargeback.chargeback(session, NOVEMBER, plan="free", usd_per_credit=0.001)
        assert flat.invoice["usd_cents"] == 125_000 and flat.usd_basis == "usd_per_credit"
        with pytest.raises(Conflict, match="LEDGER_USD_PER_CREDIT"):
            chargeback.chargeback(session, NOVEMBER, plan="free")


def test_the_billing_month_is_local(month_db: Database) -> None:
    billing_zone.adopt(month_db, "America/Los_Angeles")
    use_billing_zone("America/Los_Angeles")
    with month_db.read() as session:
        found = chargeback.chargeback(session, NOVEMBER, plan="creator").as_json()
    # 31 October 23:00Z is 16:00 on the 31st in Los Angeles; 1 December 00:00Z is still 30 Nov.
    assert found["from"] == "2026-11-01T07:00:00Z" and found["to"] == "2026-12-01T08:00:00Z"
    assert found["totals"]["credits"] == 1_250_000 + 7_000


@pytest.mark.parametrize(
    ("parse", "raw"),
    [
        (chargeback.parse_month, "2026-13"),
        (chargeback.parse_month, "2026-00"),
        (chargeback.parse_month, "26-11"),
        (chargeback.parse_month, "1969-12"),
        (chargeback.parse_month, "\uff12\uff10\uff12\uff16-11"),
        (chargeback.parse_month, ""),
        (chargeback.parse_invoice_usd, "-1"),
        (chargeback.parse_invoice_usd, "nan"),
        (chargeback.parse_invoice_usd, "inf"),
        (chargeback.parse_invoice_usd, "1e3"),
        (chargeback.parse_invoice_usd, "1.234"),
        (chargeback.parse_invoice_usd, "9" * 400),
        (chargeback.parse_invoice_credits, "-5"),
        (chargeback.parse_invoice_credits, "1.5"),
        (chargeback.parse_invoice_credits, "\u0661\u0662"),
        (chargeback.parse_invoice_credits, "9" * 30),
    ],
)
def test_bad_input_is_refused_naming_it(parse, raw: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        parse(raw)


def test_the_cli_prints_the_same_numbers(
    month_db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", month_db.url.render_as_string(hide_password=False))
    with pytest.raises(SystemExit) as done:
        main(["chargeback", "--month", "2026-11", "--invoice-usd", "1400", "--format", "json"])
    assert done.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert [r["usd_cents"] for r in document["rows"]] == [74_592, 53_280, 5_328, 6_800]
    with pytest.raises(SystemExit) as done:
        main(["chargeback", "--month", "2026-11"])
    table = capsys.readouterr().out
    assert done.value.code == 0
    assert "acme" in table and "745.92" in table and "1,332.00" in table
    with pytest.raises(SystemExit) as done:
        main(["chargeback", "--month", "2026-13"])
    assert done.value.code == 2
    assert "--month must be a month YYYY-MM" in capsys.readouterr().err

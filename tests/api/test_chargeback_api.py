"""GET /api/reports/chargeback: the month's invoice per team in JSON and CSV, admin only, bad
input refused in the one error shape; and the spend report's usd from the plan's bands."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient

from ledger import teams
from ledger.db import Database
from tests.integration.test_chargeback import month_db as month_db
from tests.support.service import ADMIN_TOKEN

ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
URL = "/api/reports/chargeback"


@pytest.fixture
def api(make_app, month_db: Database) -> FlaskClient:  # type: ignore[no-untyped-def]
    return make_app().test_client()


def test_json_and_csv_say_the_same_and_add_up(api: FlaskClient) -> None:
    answer = api.get(f"{URL}?month=2026-11&invoice_usd=1400.00", headers=ADMIN_AUTH)
    assert answer.status_code == 200, answer.json
    document = answer.json
    assert [(r["team"], r["usd"]) for r in document["rows"]] == [
        ("acme", 745.92),
        ("beta", 532.80),
        ("gamma", 53.28),
        (None, 68.00),
    ]
    assert document["totals"]["usd_cents"] == 140_000
    answer = api.get(f"{URL}?month=2026-11&invoice_usd=1400.00&format=csv", headers=ADMIN_AUTH)
    assert answer.mimetype == "text/csv"
    assert 'filename="chargeback_2026-11.csv"' in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert [r[-1] for r in rows] == ["usd", "745.92", "532.80", "53.28", "68.00", "1400.00"]
    assert rows[4][:2] == ["", "true"]


def test_csv_cells_are_formula_safe(api: FlaskClient, month_db: Database) -> None:
    with month_db.write() as session:
        teams.create_team(session, "x", budget_credits=10)
    answer = api.get(f"{URL}?month=2026-11&format=csv", headers=ADMIN_AUTH)
    assert all(not line.startswith(("=", "+", "@")) for line in answer.text.splitlines())


@pytest.mark.parametrize(
    "query",
    [
        "",
        "month=2026-13",
        "month=2026-1",
        "month=november",
        "month=2026-11&invoice_usd=-1",
        "month=2026-11&invoice_usd=nan",
        "month=2026-11&invoice_usd=Infinity",
        "month=2026-11&invoice_usd=1e400",
        "month=2026-11&invoice_usd=" + "9" * 20,
        "month=2026-11&invoice_credits=-1",
        "month=2026-11&invoice_credits=12.5",
        "month=2026-11&invoice_credits=" + "9" * 40,
        "month=2026-11&format=xml",
        "month=2026-11&team=acme",
    ],
)
def test_bad_input_gets_the_one_error_shape(api: FlaskClient, query: str) -> None:
    answer = api.get(f"{URL}?{query}", headers=ADMIN_AUTH)
    assert answer.status_code == 422
    assert answer.json["error"]["code"] == "invalid_request"
    assert set(answer.json["error"]) >= {"code", "message"}


def test_only_the_admin_sees_the_chargeback(api: FlaskClient, month_db: Database) -> None:
    with month_db.write() as session:
        key = teams.create_key(session, "acme").secret
    answer = api.get(f"{URL}?month=2026-11", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403 and answer.json["error"]["code"] == "forbidden"
    assert api.get(f"{URL}?month=2026-11").status_code == 401


def test_free_without_a_flat_rate_is_a_conflict(make_app, month_db: Database) -> None:  # type: ignore[no-untyped-def]
    answer = make_app(plan="free").test_client().get(f"{URL}?month=2026-11", headers=ADMIN_AUTH)
    assert answer.status_code == 409 and "LEDGER_USD_PER_CREDIT" in answer.json["error"]["message"]


def test_spend_report_usd_comes_from_the_plans_bands(api: FlaskClient, month_db: Database) -> None:
    answer = api.get(
        "/api/reports/spend?from=2026-11-01&to=2026-12-01&group_by=team", headers=ADMIN_AUTH
    )
    document = answer.json
    assert document["usd_basis"] == "plan" and document["plan"] == "creator"
    # The month's 1,250,000 credits cost $1,332.00: $0.0010656 each.
    assert [r["usd"] for r in document["rows"]] == [745.921066, 532.8, 53.278934]
    assert document["totals"]["usd"] == 1332.0
    with month_db.write() as session:
        key = teams.create_key(session, "acme").secret
    mine = api.get(
        "/api/reports/spend?from=2026-11-01&to=2026-12-01",
        headers={"Authorization": f"Bearer {key}"},
    ).json
    assert "usd" not in mine["rows"][0] and mine["usd_basis"] is None

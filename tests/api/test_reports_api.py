"""GET /api/reports/spend: the journal's sums in JSON and CSV, who may see what, bad input;
the forecast in the balance."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from ledger import accounting, teams
from ledger.db import Database
from ledger.models import utcnow
from tests.integration.test_reports import NOVEMBER, build_ledger, journal_report
from tests.support.service import ADMIN_TOKEN

ADMIN = ADMIN_TOKEN
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
WINDOW = "from=2026-11-01&to=2026-12-01"


@pytest.fixture
def api(make_app) -> FlaskClient:  # type: ignore[no-untyped-def]
    return make_app(usd_per_credit=0.02).test_client()


@pytest.fixture
def keys(database: Database) -> dict[str, str]:
    build_ledger(database)
    with database.write() as session:
        return {slug: teams.create_key(session, slug).secret for slug in ("acme", "zeta")}


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    "group_by", ["team", "team,day", "endpoint,model", "week,key", "month,tag:project,tag:env"]
)
def test_json_and_csv_equal_the_journal(api, database, keys, group_by) -> None:
    dimensions = group_by.split(",")
    rows, totals = journal_report(database, *NOVEMBER, dimensions)
    answer = api.get(f"/api/reports/spend?{WINDOW}&group_by={group_by}", headers=ADMIN_AUTH)
    assert answer.status_code == 200
    document = answer.json
    assert document["group_by"] == dimensions
    assert (document["from"], document["to"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert [{k: r[k] for k in rows[0]} for r in document["rows"]] == rows
    assert all(r["usd"] == pytest.approx(r["spent"] * 0.02) for r in document["rows"])
    assert {k: document["totals"][k] for k in totals} == totals
    assert document["totals"]["usd"] == pytest.approx(totals["spent"] * 0.02)

    as_csv = api.get(
        f"/api/reports/spend?{WINDOW}&group_by={group_by}&format=csv", headers=ADMIN_AUTH
    )
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    assert as_csv.headers["Content-Disposition"].startswith("attachment; filename=")
    parsed = list(csv.reader(io.StringIO(as_csv.get_data(as_text=True))))
    measures = ["jobs", "held", "spent", "released"]
    assert parsed[0] == [*dimensions, *measures, "usd"]
    n = len(dimensions)
    assert [[int(v) for v in line[n : n + 4]] for line in parsed[1:-1]] == [
        [r[m] for m in measures] for r in rows
    ]
    assert parsed[-1][0] == "total"
    assert [int(v) for v in parsed[-1][n : n + 4]] == [totals[m] for m in measures]


def test_forecasts_per_team_when_grouped_by_team(api, keys) -> None:
    document = api.get(f"/api/reports/spend?{WINDOW}&group_by=team", headers=ADMIN_AUTH).json
    assert set(document["forecast"]) == {"acme", "zeta", "omega"}
    assert set(document["forecast"]["acme"]) == {"burn_rate_per_day", "projected_run_out"}
    assert "forecast" not in document["totals"]


def test_a_team_key_sees_only_its_own_team(api, database, keys) -> None:
    rows, _ = journal_report(database, *NOVEMBER, ["team", "day"])
    own = [r for r in rows if r["team"] == "zeta"]
    for query in ("", "&team=zeta"):
        answer = api.get(
            f"/api/reports/spend?{WINDOW}&group_by=team,day{query}", headers=auth(keys["zeta"])
        )
        assert answer.status_code == 200
        assert [{k: r[k] for k in own[0]} for r in answer.json["rows"]] == own
        assert answer.json["totals"]["spent"] == sum(r["spent"] for r in own)
        assert "forecast" in answer.json["totals"]
    # Without team in the grouping, still only its own jobs.
    answer = api.get(f"/api/reports/spend?{WINDOW}&group_by=endpoint", headers=auth(keys["zeta"]))
    assert answer.json["totals"]["jobs"] == sum(r["jobs"] for r in own)
    as_csv = api.get(
        f"/api/reports/spend?{WINDOW}&group_by=team&format=csv", headers=auth(keys["zeta"])
    ).get_data(as_text=True)
    assert "acme" not in as_csv and "omega" not in as_csv
    other = api.get(f"/api/reports/spend?{WINDOW}&team=acme", headers=auth(keys["zeta"]))
    assert other.status_code == 404 and other.json["error"]["code"] == "not_found"
    # The admin may pick any one team.
    admin = api.get(f"/api/reports/spend?{WINDOW}&team=acme", headers=ADMIN_AUTH).json
    assert [r["team"] for r in admin["rows"]] == ["acme"]
    assert admin["totals"]["spent"] == sum(r["spent"] for r in rows if r["team"] == "acme")


@pytest.mark.parametrize(
    "query",
    [
        "group_by=colour",
        "group_by=team,team",
        "group_by=",
        "group_by=tag:",
        "group_by=tag:a%20b",
        "format=xlsx",
        "from=yesterday",
        "to=2026-02-30",
        "from=2026-12-01&to=2026-11-01",
        "from=2026-11-01T10:00:00&to=2026-11-01T10:00:00",
    ],
)
def test_bad_input_is_422_json(api, keys, query) -> None:
    answer = api.get(f"/api/reports/spend?{query}", headers=ADMIN_AUTH)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.json["error"]["code"] == "invalid_request" and answer.json["error"]["message"]


def test_no_token_is_401_and_an_unknown_team_404(api) -> None:
    assert api.get("/api/reports/spend").status_code == 401
    assert api.get("/api/reports/spend?team=nobody", headers=ADMIN_AUTH).status_code == 404


def test_the_default_window_is_this_month(api, database) -> None:
    with database.write() as session:
        team = teams.create_team(session, "acme", budget_credits=700)
        accounting.reserve(session, team.id, 70, endpoint="image-to-video", kind="video")
    document = api.get("/api/reports/spend", headers=ADMIN_AUTH).json
    assert document["group_by"] == ["team"]
    assert document["from"].endswith("-01T00:00:00Z") and document["to"].endswith("-01T00:00:00Z")
    assert document["rows"] == [
        {"team": "acme", "jobs": 1, "held": 70, "spent": 0, "released": 0, "usd": 0.0}
    ]


def test_the_balance_carries_the_forecast(api, database) -> None:
    with database.write() as session:
        team = teams.create_team(session, "acme", budget_credits=1000, period="none")
        yesterday = utcnow() - timedelta(days=1)
        accounting.reserve(
            session, team.id, 70, endpoint="image-to-video", kind="video", now=yesterday
        )
    balance = api.get("/api/teams/acme/balance", headers=ADMIN_AUTH).json
    # 70 in the 7 days before today: 10 a day; 930 left lasts 93 days (`none` never resets).
    assert balance["burn_rate_per_day"] == 10.0
    assert balance["projected_run_out"] is not None
    team_view = api.get("/api/teams/acme", headers=ADMIN_AUTH).json
    assert team_view["balance"]["burn_rate_per_day"] == 10.0

"""The dashboard in a real (headless) chromium against a running ledger with data: what an admin
sees equals what the API says; without the admin token it shows nothing."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from ledger.models import utcnow
from tests.browser.conftest import HOSTILE_NAME, Service

MEASURES = ("jobs", "held", "spent", "released")


def sign_in(page: Page, service: Service, token: str | None = None) -> None:
    page.goto(service.url + "/")
    page.get_by_label("Admin token").fill(token or service.admin)
    page.get_by_role("button", name="Sign in").click()


def wait_for_report(page: Page, first: str, last: str, team: str | None = None) -> None:
    caption = page.locator("#report-caption")
    expect(caption).to_contain_text(f"{first} to {last}")
    expect(caption).to_contain_text(f"team {team}" if team else "all teams")


def month_of(day: date) -> tuple[str, str]:
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first.isoformat(), last.isoformat()


def shown_totals(page: Page) -> dict[str, int]:
    return {
        m: int(page.locator(f'tfoot [data-total="{m}"]').get_attribute("data-value") or -1)
        for m in MEASURES
    }


def api_report(service: Service, first: str, last: str, **params: Any) -> Any:
    """The API's report for the UTC days ``first`` to ``last``, both included."""
    end = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
    return service.get(
        "/api/reports/spend", **{"from": first, "to": end, "group_by": "team,day", **params}
    )


def test_without_the_admin_token_the_page_shows_no_data(page: Page, service: Service) -> None:
    page.goto(service.url + "/")
    expect(page.get_by_label("Admin token")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()

    sign_in(page, service, token="not-the-admin-token")
    expect(page.locator("#login-message")).to_contain_text("refused this token (401")
    sign_in(page, service, token=service.keys["design"])
    expect(page.locator("#login-message")).to_contain_text("team key")

    # a token kept from before that is no longer accepted: back to the sign-in form
    page.evaluate("sessionStorage.setItem('ledger.admin-token', 'revoked-token')")
    page.reload()
    expect(page.locator("#login-message")).to_contain_text("401")
    for nothing in ("[data-team]", "#report tbody tr", "#summary div"):
        assert page.locator(nothing).count() == 0, nothing
    assert page.evaluate("sessionStorage.getItem('ledger.admin-token')") is None
    assert "Design studio" not in page.content() and "team-01" not in page.content()


def test_an_admin_sees_every_team_with_the_api_s_numbers(
    page: Page, service: Service, tmp_path: Path
) -> None:
    sign_in(page, service)
    first, last = month_of(utcnow().date())
    wait_for_report(page, first, last)

    teams = service.get("/api/teams", limit=500)["items"]
    assert len(teams) == 12
    expect(page.locator("[data-team]")).to_have_count(len(teams))
    open_jobs = [
        *service.get("/api/jobs", status="reserved")["items"],
        *service.get("/api/jobs", status="submitted")["items"],
    ]
    unknown_jobs = service.get("/api/jobs", status="unknown")["items"]
    alerts = service.get("/api/alerts")["items"]
    for team in teams:
        card = page.locator(f'[data-team="{team["slug"]}"]')
        balance = team["balance"]
        for field in ("budget", "held", "spent", "available"):
            expect(card.locator(f'[data-field="{field}"]')).to_have_text(f"{balance[field]:,}")
        run_out = card.locator('[data-field="run-out"]')
        if balance.get("projected_run_out"):
            expect(run_out).to_have_text(balance["projected_run_out"])
        else:
            expect(run_out).to_contain_text("—")
        expect(card.locator(".name")).to_have_text(team["name"])
        opened = sum(1 for j in open_jobs if j["team"] == team["slug"])
        unknown = sum(1 for j in unknown_jobs if j["team"] == team["slug"])
        expect(card.locator('[data-field="open"]')).to_have_text(str(opened))
        expect(card.locator('[data-field="unknown"]')).to_have_text(str(unknown))
        expect(card.locator("[data-alert]")).to_have_count(
            min(4, sum(1 for a in alerts if a["team"] == team["slug"]))
        )
    # what the tour left: marketing has one job rendering and one unknown, design an overrun
    marketing = page.locator('[data-team="marketing"]')
    expect(marketing.locator('[data-field="open"]')).to_have_text("1")
    expect(marketing.locator('[data-field="unknown"]')).to_have_text("1")
    expect(marketing.locator("[data-job]")).to_have_count(2)
    expect(page.locator('[data-team="design"] [data-alert]')).to_contain_text("overrun")
    # a long tour: a team whose history feeds the forecast shows a burn rate and a chart
    design = service.get("/api/teams/design/balance")
    expect(page.locator('[data-team="design"] [data-field="burn-rate"]')).to_contain_text(
        f"{design['burn_rate_per_day']:,.2f}".rstrip("0").rstrip(".")
    )
    assert (
        page.locator('[data-chart-for="design"] svg g[data-day]').count()
        == (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    )

    # the report and the summary are the API's
    report = api_report(service, first, last)
    assert shown_totals(page) == {m: report["totals"][m] for m in MEASURES}
    assert page.locator("#report tbody tr").count() == max(1, len(report["rows"]))
    spent = page.locator('#summary [data-total="spent"] dd')
    expect(spent).to_have_text(f"{report['totals']['spent']:,}")
    # spend that went around ledger: the account's, beside the teams'
    bypass = service.get("/api/drift", **{"from": first, "to": last})["bypass"]
    assert bypass["credits"] == 456
    shown_bypass = page.locator('#summary [data-total="bypass"]')
    expect(shown_bypass.locator("dd")).to_have_text(f"{bypass['credits']:,}")
    expect(shown_bypass.locator("dt")).to_have_text("Bypass spend (1 project)")
    # and the account's own alerts, which no team card shows
    account = [a for a in alerts if a["team"] is None]
    assert [a["kind"] for a in account] == ["bypass"]
    expect(page.locator("#account")).to_be_visible()
    expect(page.locator("#account [data-alert]")).to_have_count(1)
    expect(page.locator("#account [data-alert]")).to_contain_text(account[0]["message"])
    expect(page.locator('[data-team="design"] h4').nth(0)).to_have_text("Spend per day (UTC)")

    # untrusted text stays text
    expect(page.locator('[data-team="ops"] .name')).to_have_text(HOSTILE_NAME)
    assert page.locator("[data-team] img, [data-team] b").count() == 0
    assert page.evaluate("window.__xss") is None

    screenshot = tmp_path / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_the_date_range_and_the_team_re_query_the_report_and_the_csv_is_the_report_shown(
    page: Page, service: Service, tmp_path: Path
) -> None:
    today = utcnow().date()
    sign_in(page, service)
    first, last = month_of(today)
    wait_for_report(page, first, last)
    month = shown_totals(page)

    # one past day
    day = (today - timedelta(days=3)).isoformat()
    page.get_by_label("From (UTC)").fill(day)
    page.get_by_label("To, included (UTC)").fill(day)
    page.get_by_role("button", name="Apply").click()
    wait_for_report(page, day, day)
    report = api_report(service, day, day)
    assert shown_totals(page) == {m: report["totals"][m] for m in MEASURES} != month
    assert {r["day"] for r in report["rows"]} == {day}

    # a long range, one team
    first = (today - timedelta(days=45)).isoformat()
    page.get_by_label("From (UTC)").fill(first)
    page.get_by_label("To, included (UTC)").fill(today.isoformat())
    page.get_by_role("button", name="Apply").click()
    wait_for_report(page, first, today.isoformat())
    page.get_by_label("Team", exact=True).select_option("design")
    wait_for_report(page, first, today.isoformat(), team="design")
    expect(page.locator("[data-team]")).to_have_count(1)
    expect(page.locator("#account")).to_be_hidden()  # one team's view: not the account's
    report = api_report(service, first, today.isoformat(), team="design")
    assert shown_totals(page) == {m: report["totals"][m] for m in MEASURES}
    assert {r["team"] for r in report["rows"]} == {"design"} and len(report["rows"]) > 30

    # the CSV is exactly the report shown
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    text = saved.read_bytes().decode()
    assert text == api_report(service, first, today.isoformat(), team="design", format="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[-1]["team"] == "total"
    assert {m: int(rows[-1][m]) for m in MEASURES} == {m: report["totals"][m] for m in MEASURES}
    assert sum(int(r["spent"]) for r in rows[:-1]) == report["totals"]["spent"]

    # all teams over the long range stays readable: nothing wider than the window, and the
    # day labels of every chart never overlap
    page.get_by_label("Team", exact=True).select_option("")
    wait_for_report(page, first, today.isoformat())
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    overlaps = page.evaluate(
        """() => [...document.querySelectorAll('.chart svg')].map((chart) => {
            const boxes = [...chart.querySelectorAll('text.x-label')]
                .map((label) => label.getBoundingClientRect());
            return boxes.slice(1).filter((box, i) => box.left < boxes[i].right + 2).length;
        })"""
    )
    assert overlaps and not any(overlaps), overlaps
    screenshot = tmp_path / "dashboard-long-range.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_the_forecast_says_why_it_is_zero_beside_today_s_spend(
    page: Page, service: Service
) -> None:
    """A team whose only spend is today's (marketing) has a burn rate of 0: the rate is over the
    7 days before today, and the card says so rather than contradict its own "spent"."""
    sign_in(page, service)
    marketing = service.get("/api/teams/marketing/balance")
    assert marketing["burn_rate_per_day"] == 0 and marketing["held"] + marketing["spent"] > 0
    card = page.locator('[data-team="marketing"]')
    burn = card.locator('[data-field="burn-rate"]')
    expect(burn).to_have_text(
        "0 per day (the 7 days before today; today's spend counts from tomorrow)"
    )
    expect(card.locator('[data-field="run-out"]')).to_have_text(
        "— (no spend in the 7 days before today)"
    )
    design = page.locator('[data-team="design"] [data-field="burn-rate"]')
    expect(design).to_contain_text("per day (the 7 days before today)")
    # the whole sentence is on screen, not cut off with an ellipsis
    for shown in (burn, design):
        assert shown.evaluate("node => node.scrollWidth <= node.clientWidth")


def test_the_chargeback_view_shows_the_api_s_numbers_and_its_csv(
    page: Page, service: Service, tmp_path: Path
) -> None:
    month = utcnow().date().strftime("%Y-%m")
    sign_in(page, service)
    caption = page.locator("#chargeback-caption")
    expect(caption).to_contain_text(f"Billing month {month}")
    page.get_by_label("Invoice total, USD (optional)").fill("1234.56")
    page.get_by_role("button", name="Show chargeback").click()
    expect(caption).to_contain_text("invoice $1,234.56 (as given)")

    found = service.get("/api/reports/chargeback", month=month, invoice_usd="1234.56")
    assert found["rows"] and found["totals"]["usd_cents"] == 123_456
    shown = {
        row.get_attribute("data-chargeback-row"): {
            cell.get_attribute("data-column"): cell.get_attribute("data-value")
            for cell in row.locator("td[data-column]").all()
        }
        for row in page.locator("#chargeback [data-chargeback-row]").all()
    }
    expected = {
        ("(unattributed)" if r["unattributed"] else r["team"]): r for r in found["rows"]
    } | {"total": found["totals"]}
    assert set(shown) == set(expected)
    for name, row in expected.items():
        assert shown[name]["usd"] == str(row["usd_cents"])
        assert shown[name]["credits"] == ("" if row["credits"] is None else str(row["credits"]))
    assert sum(int(r["usd"]) for n, r in shown.items() if n != "total") == 123_456

    with page.expect_download() as download:
        page.get_by_role("button", name="Download chargeback CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"chargeback_{month}.csv"
    api_csv = httpx.get(
        service.url + "/api/reports/chargeback",
        params={"month": month, "invoice_usd": "1234.56", "format": "csv"},
        headers={"Authorization": f"Bearer {service.admin}"},
    ).content
    assert saved.read_bytes() == api_csv
    assert saved.read_bytes().decode().splitlines()[-1].endswith(",1234.56")

    page.get_by_label("Invoice total, USD (optional)").fill("-1")
    page.get_by_role("button", name="Show chargeback").click()
    expect(caption).to_contain_text("Could not show the chargeback: invoice_usd must be dollars")

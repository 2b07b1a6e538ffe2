"""Fixtures: a ledger service with a few weeks of data in front of a simulator, and Debian's
headless chromium driven by Playwright (never ``playwright install``: no browser downloads).

Without chromium (or Playwright) the browser tests are skipped with a reason, except under
``CI=true``, where that is a failure: ``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import magic_hour
import pytest

from ledger import accounting, teams
from ledger.config import load_settings
from ledger.db import Database
from ledger.models import Job, utcnow
from ledger.simulator.options import SimulatorOptions
from ledger.simulator.testing import running_simulator
from ledger.web import create_app, services_of
from ledger.webhooks import inbox
from ledger.webhooks.signing import signed_headers
from tests.support.service import FAST, UPSTREAM_TOKEN, serving

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # reported by the `browser` fixture
    sync_playwright = None

CHROMIUM = os.environ.get("LEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN = "admin-token-for-the-browser-tests"
WEBHOOK_SECRET = "webhook-secret-for-the-browser-tests"
IMAGE = "api-assets/id/image.png"
# Team names are untrusted text: one of them tries to become markup.
HOSTILE_NAME = '<img src=x onerror="window.__xss=1">Ops & <b>friends</b>'
HISTORY_DAYS = 40
LONG_TOUR_TEAMS = 9


@dataclass
class Service:
    """The running ledger, its admin token, and the team keys."""

    url: str
    admin: str
    keys: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            self.url + path, params=params, headers={"Authorization": f"Bearer {self.admin}"}
        )
        assert response.status_code == 200, response.text
        return response.json() if params.get("format") != "csv" else response.text


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI requires it (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{reason}; install it with: apt-get install -y chromium && pip install playwright")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        _unavailable("Playwright for Python is not installed")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        _unavailable(f"Debian's chromium is not at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def service(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A simulator and a ledger (SQLite) over loopback, with data: jobs through the proxy with
    the official SDK (settled, still open, unknown), an overrun alert, and 40 days of history
    for a long tour of a dozen teams."""
    os.environ.setdefault("MAGIC_HOUR_POLL_INTERVAL", "0.01")
    path = tmp_path_factory.mktemp("browser") / "ledger.db"
    shutil.copyfile(sqlite_template, path)
    with ExitStack() as stack:
        simulator = stack.enter_context(
            running_simulator(SimulatorOptions(**{**FAST, "token": UPSTREAM_TOKEN}))
        )
        database = Database(f"sqlite:///{path}", sqlite_busy_timeout_ms=2000)
        settings = load_settings(
            {},
            database_url=f"sqlite:///{path}",
            upstream_url=simulator.url,
            magic_hour_api_key=UPSTREAM_TOKEN,
            upstream_timeout=0.5,
            admin_token=ADMIN,
            webhook_secret=WEBHOOK_SECRET,
        )
        app = create_app(settings, database=database)
        stack.callback(services_of(app).close)
        service = Service(stack.enter_context(serving(app)), ADMIN)
        http = stack.enter_context(
            httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {ADMIN}"})
        )

        def team(slug: str, name: str, budget: int, period: str = "month") -> None:
            body = {"slug": slug, "name": name, "budget_credits": budget, "period": period}
            assert http.post("/api/teams", json=body).status_code == 201
            key = http.post(f"/api/teams/{slug}/keys", json={"label": "browser test"})
            service.keys[slug] = key.json()["key"]

        team("design", "Design studio", 20_000)
        team("marketing", "Marketing", 800)
        team("ops", HOSTILE_NAME, 1_000, period="week")
        long_tour = [f"team-{n:02d}" for n in range(1, LONG_TOUR_TEAMS + 1)]
        for n, slug in enumerate(long_tour, 1):
            team(slug, f"Long tour team {n:02d}, whose name is far too long to fit a card", 10_000)
        _history(database, ["design", *long_tour])

        def sdk(slug: str) -> magic_hour.Client:
            client = stack.enter_context(httpx.Client(timeout=30))
            return magic_hour.Client(
                token=service.keys[slug], base_url=service.url, httpx_client=client
            )

        design, marketing = sdk("design"), sdk("marketing")
        for seconds in (5, 4):  # accepted, then settled by reconciliation
            design.v1.image_to_video.create(assets={"image_file_path": IMAGE}, end_seconds=seconds)
        reconciler = services_of(app).reconciler
        deadline = time.monotonic() + 60
        while _open_jobs(database, "design"):
            assert time.monotonic() < deadline, "design's jobs did not settle"
            reconciler.sweep(now=utcnow() + timedelta(hours=1))
        with database.write() as session:  # Magic Hour charged more than held: an overrun alert
            held = accounting.reserve(
                session,
                teams.get_team(session, "design").id,
                100,
                endpoint="image-to-video",
                kind="video",
            )
        with database.write() as session:
            accounting.settle(session, held.id, 130)

        # marketing: one job still rendering (open), one whose create never answered (unknown)
        marketing.v1.image_to_video.create(assets={"image_file_path": IMAGE}, end_seconds=3)
        simulator.set_faults(timeout_rate=1.0, timeout_seconds=5, scope="create")
        with pytest.raises(magic_hour.ApiError) as unknown:
            marketing.v1.image_to_video.create(assets={"image_file_path": IMAGE}, end_seconds=4)
        assert unknown.value.status_code == 504, unknown.value.body
        simulator.clear_faults()

        # a project made in Magic Hour's web app: its signed webhook makes it bypass spend
        body = json.dumps(
            {
                "type": "video.completed",
                "payload": {
                    "id": "made-in-the-web-app",
                    "status": "complete",
                    "credits_charged": 456,
                },
            }
        ).encode()
        headers = {"content-type": "application/json", **signed_headers(WEBHOOK_SECRET, body)}
        assert http.post("/webhooks/magic-hour", content=body, headers=headers).status_code == 200
        inbox.drain(database)
        yield service


def _history(database: Database, slugs: list[str]) -> None:
    """Jobs held and settled on each of the last days (not today), different every day."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    with database.write() as session:
        for n, slug in enumerate(slugs):
            team_id = teams.get_team(session, slug).id
            for back in range(1, HISTORY_DAYS + 1):
                if (back + n) % 6 == 0:
                    continue  # some days without spend
                moment = today - timedelta(days=back) + timedelta(hours=9 + n % 8)
                credits = 40 + (back * 37 + n * 53) % 220
                job = accounting.reserve(
                    session, team_id, credits, endpoint="image-to-video", kind="video", now=moment
                )
                accounting.settle(session, job.id, credits - back % 3 * 5, now=moment)


def _open_jobs(database: Database, slug: str) -> int:
    with database.read() as session:
        team = teams.get_team(session, slug)
        return session.query(Job).filter(Job.team_id == team.id, Job.ended_at.is_(None)).count()

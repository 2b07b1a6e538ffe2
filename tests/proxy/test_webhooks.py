"""Magic Hour's webhooks as it sends them: signed with HMAC-SHA256, verified before anything is
done, kept and processed once per (event, project, status); a terminal payload settles its job
without a poll, a project no job owns is bypass spend, and each team gets its own events relayed,
signed with its own secret (CONTRACT §4). Over real HTTP; the inbox is drained as the scheduler
of `ledger serve` drains it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import magic_hour
import pytest
from sqlalchemy import func, select

from ledger import audit
from ledger.models import Alert, Entry, Job, WebhookEvent, utcnow
from ledger.webhooks import inbox, pruning
from ledger.webhooks.relay import Relay
from ledger.webhooks.signing import signed_headers
from tests.support.service import ADMIN_TOKEN, Ledger

SECRET = "mh-webhook-secret-for-tests"
SERVER_KEY = "ledger-secret-key-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
IMAGE = "api-assets/id/image.png"


def post(ledger: Ledger, body: bytes, headers: dict[str, str] | None) -> httpx.Response:
    return httpx.post(
        f"{ledger.url}/webhooks/magic-hour",
        content=body,
        headers={"content-type": "application/json", **(headers or {})},
    )


def signed(body: bytes, secret: str = SECRET, **kw: Any) -> dict[str, str]:
    return signed_headers(secret, body, **kw)


def event(project: str, kind: str = "video.completed", credits: int = 140) -> bytes:
    status = {"video.completed": "complete", "video.errored": "error"}.get(kind, "rendering")
    payload = {"id": project, "status": status, "credits_charged": credits, "downloads": []}
    return json.dumps({"type": kind, "payload": payload}).encode()


def a_job(ledger: Ledger, stack: ExitStack, slug: str = "acme") -> tuple[str, str]:
    """A team with one submitted kling-3.0 job (144 held); returns (key, project id)."""
    key = ledger.team(slug, 10_000)
    client = ledger.client(key, stack)
    created = client.v1.image_to_video.create(
        assets={"image_file_path": IMAGE}, end_seconds=3, model="kling-3.0"
    )
    return key, created.id


def project_gets(ledger: Ledger) -> int:
    counters = ledger.simulator.state()["counters"]
    return sum(n for name, n in counters.items() if name.startswith("GET /v1/video-projects"))


def inbox_size(ledger: Ledger) -> int:
    with ledger.database.read() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


@pytest.fixture
def hooked(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger(webhook_secret=SECRET, secret_key=SERVER_KEY)


def test_a_signed_terminal_event_settles_its_job_without_a_poll(
    hooked: Ledger, stack: ExitStack
) -> None:
    _, project = a_job(hooked, stack)
    body = event(project, credits=140)  # Magic Hour's word, signed: no GET needed
    answer = post(hooked, body, signed(body))
    assert answer.status_code == 200
    assert answer.json() == {"event": "video.completed", "project": project, "outcome": "received"}
    assert hooked.jobs("acme")[0].status == "submitted"  # processed after the answer
    report = inbox.drain(hooked.database)
    assert (report.processed, report.settled) == (1, 1)
    [job] = hooked.jobs("acme")
    assert (job.status, job.charged_credits) == ("settled", 140)
    assert hooked.balance("acme").spent == 140
    assert project_gets(hooked) == 0


def test_started_moves_no_money(hooked: Ledger, stack: ExitStack) -> None:
    _, project = a_job(hooked, stack)
    body = event(project, "video.started", credits=144)
    assert post(hooked, body, signed(body)).status_code == 200
    inbox.drain(hooked.database)
    [job] = hooked.jobs("acme")
    assert (job.status, job.held_credits) == ("submitted", 144)


@pytest.mark.parametrize(
    "forge",
    [
        "no headers",
        "no signature",
        "wrong secret",
        "altered body",
        "stale timestamp",
        "future timestamp",
        "timestamp not a number",
    ],
)
def test_an_unverified_call_gets_401_and_changes_nothing(
    hooked: Ledger, stack: ExitStack, forge: str
) -> None:
    _, project = a_job(hooked, stack)
    body = event(project)
    headers: dict[str, str] | None = signed(body)
    sent = body
    if forge == "no headers":
        headers = None
    elif forge == "no signature":
        headers = {"magic-hour-event-timestamp": headers["magic-hour-event-timestamp"]}
    elif forge == "wrong secret":
        headers = signed(body, "not-the-secret")
    elif forge == "altered body":
        sent = event(project, credits=1)
    elif forge == "stale timestamp":  # (clear of the 300 s edge: the clock moves meanwhile)
        headers = signed(body, now=time.time() - 310)
    elif forge == "future timestamp":
        headers = signed(body, now=time.time() + 310)
    else:
        headers = {**headers, "magic-hour-event-timestamp": "soon"}
    answer = post(hooked, sent, headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert inbox_size(hooked) == 0
    inbox.drain(hooked.database)
    assert hooked.jobs("acme")[0].status == "submitted"


def test_the_same_event_delivered_five_times_settles_once(hooked: Ledger, stack: ExitStack) -> None:
    _, project = a_job(hooked, stack)
    body = event(project, credits=150)
    outcomes = [post(hooked, body, signed(body)).json()["outcome"] for _ in range(5)]
    assert outcomes == ["received"] + ["duplicate: already received"] * 4
    inbox.drain(hooked.database)
    for _ in range(3):  # and again later: nothing left to do
        post(hooked, body, signed(body))
        inbox.drain(hooked.database)
    [job] = hooked.jobs("acme")
    assert (job.status, job.charged_credits) == ("settled", 150)
    with hooked.database.read() as session:
        settles = session.scalar(
            select(func.count()).where(Entry.job_id == job.id, Entry.kind == "settle")
        )
    assert settles == 1 and inbox_size(hooked) == 1
    assert hooked.balance("acme").spent == 150


def test_a_verified_body_that_is_no_event_is_refused(hooked: Ledger) -> None:
    for body in (b"not json", b"[]", b'{"type": "video.completed"}', b'{"type": 3, "payload": {}}'):
        answer = post(hooked, body, signed(body))
        assert answer.status_code == 422, body
        assert answer.json()["error"]["code"] == "invalid_request"
    assert inbox_size(hooked) == 0


def test_webhooks_are_off_without_a_secret(ledger: Ledger) -> None:
    body = event("anything")
    assert post(ledger, body, signed(body)).status_code == 404


def test_a_project_no_job_owns_is_bypass_spend_alerted_once(hooked: Ledger) -> None:
    started = event("made-in-the-web-app", "video.started", credits=480)
    done = event("made-in-the-web-app", "video.completed", credits=456)
    for body in (started, done, started):  # a late repeat of started changes nothing
        assert post(hooked, body, signed(body)).status_code == 200
        inbox.drain(hooked.database)
    drift = httpx.get(f"{hooked.url}/api/drift", headers=ADMIN).json()
    assert drift["bypass"]["projects"] == 1 and drift["bypass"]["credits"] == 456
    [item] = drift["bypass"]["items"]
    assert (item["project_id"], item["status"], item["ended"]) == (
        "made-in-the-web-app",
        "complete",
        True,
    )
    with hooked.database.read() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.kind == "bypass")))
    assert len(alerts) == 1 and alerts[0].team_id is None
    listed = httpx.get(f"{hooked.url}/api/alerts", headers=ADMIN).json()["items"]
    assert [a["kind"] for a in listed] == ["bypass"]


# -- the relay ---------------------------------------------------------------------------------


class Receiver:
    """A loopback HTTP server that records what each path received and answers by a script."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.script: dict[str, list[int]] = {}  # path -> statuses to answer, then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append((self.path, headers, body))
                answers = receiver.script.get(self.path) or []
                self.send_response(answers.pop(0) if answers else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for p, h, b in self.received if p == path]


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def verify_as_magic_hour_says(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The published recipe: HMAC-SHA256 of "{timestamp}.{raw body}", hex, constant time."""
    timestamp = headers["magic-hour-event-timestamp"]
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= 300
    return fresh and hmac.compare_digest(expected, headers["magic-hour-event-signature"])


def register(ledger: Ledger, slug: str, url: str, **extra: Any) -> httpx.Response:
    return httpx.put(
        f"{ledger.url}/api/teams/{slug}/webhook", json={"url": url, **extra}, headers=ADMIN
    )


def relay_until(relay: Relay, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        relay.tick()
        time.sleep(0.05)


def test_each_team_receives_exactly_its_own_events_signed_with_its_own_secret(
    hooked: Ledger, stack: ExitStack
) -> None:
    key_a, project_a = a_job(hooked, stack, "team-a")
    _, project_b = a_job(hooked, stack, "team-b")
    with receiving() as receiver:
        secret_a = register(hooked, "team-a", f"{receiver.url}/a").json()["secret"]
        secret_b = register(hooked, "team-b", f"{receiver.url}/b").json()["secret"]
        assert secret_a != secret_b and secret_a.startswith("whsec_")
        receiver.script["/a"] = [500, 500]  # team a's receiver fails twice
        bodies = {project: event(project, credits=100) for project in (project_a, project_b)}
        for body in bodies.values():
            assert post(hooked, body, signed(body)).status_code == 200
        assert inbox.drain(hooked.database).relayed == 2
        relay = Relay(hooked.database, SERVER_KEY)
        try:
            relay_until(relay, lambda: len(receiver.at("/b")) == 1, 5)
            assert len(receiver.at("/b")) == 1  # b is not held up by a's failures
            relay_until(relay, lambda: len(receiver.at("/a")) == 3, 15)  # backoff 1 s, 2 s
            for _ in range(5):  # delivered: never again
                relay.tick()
                time.sleep(0.05)
        finally:
            relay.close()
        [(headers_b, body_b)] = receiver.at("/b")
        assert body_b == bodies[project_b]  # byte for byte
        assert verify_as_magic_hour_says(secret_b, headers_b, body_b)
        assert not verify_as_magic_hour_says(secret_a, headers_b, body_b)
        deliveries_a = receiver.at("/a")
        assert len(deliveries_a) == 3
        assert all(body == bodies[project_a] for _, body in deliveries_a)
        assert all(verify_as_magic_hour_says(secret_a, h, b) for h, b in deliveries_a)

    listed = httpx.get(f"{hooked.url}/api/teams/team-a/webhook/deliveries", headers=ADMIN).json()
    [delivery] = listed["items"]
    assert (delivery["event"], delivery["project_id"], delivery["status"]) == (
        "video.completed",
        project_a,
        "delivered",
    )
    assert (delivery["attempts"], delivery["last_status_code"]) == (3, 200)
    assert delivery["delivered_at"] is not None
    own = httpx.get(
        f"{hooked.url}/api/teams/team-a/webhook/deliveries",
        headers={"Authorization": f"Bearer {key_a}"},
    )
    assert own.status_code == 200  # a team may read its own deliveries
    other = httpx.get(
        f"{hooked.url}/api/teams/team-b/webhook/deliveries",
        headers={"Authorization": f"Bearer {key_a}"},
    )
    assert other.status_code == 404


def test_a_team_that_chose_event_types_gets_only_those(hooked: Ledger, stack: ExitStack) -> None:
    _, project = a_job(hooked, stack)
    with receiving() as receiver:
        register(hooked, "acme", f"{receiver.url}/hook", events=["video.completed"])
        for body in (event(project, "video.started"), event(project)):
            post(hooked, body, signed(body))
        assert inbox.drain(hooked.database).relayed == 1
        relay = Relay(hooked.database, SERVER_KEY)
        try:
            relay_until(relay, lambda: len(receiver.received) == 1, 5)
        finally:
            relay.close()
        [(_, body)] = receiver.at("/hook")
        assert json.loads(body)["type"] == "video.completed"


def test_events_done_a_week_ago_are_pruned_and_a_late_repeat_moves_no_money(
    hooked: Ledger, stack: ExitStack
) -> None:
    _, project_a = a_job(hooked, stack, "team-a")
    _, project_b = a_job(hooked, stack, "team-b")
    with receiving() as receiver:
        register(hooked, "team-a", f"{receiver.url}/a")
        register(hooked, "team-b", f"{receiver.url}/b")
        receiver.script["/b"] = [500] * 100  # team b's receiver is down: its delivery stays owed
        bodies = [event(project, credits=120) for project in (project_a, project_b)]
        started = event(project_a, "video.started")
        for body in (*bodies, started):
            assert post(hooked, body, signed(body)).status_code == 200
        assert inbox.drain(hooked.database).relayed == 3
        relay = Relay(hooked.database, SERVER_KEY)
        try:
            relay_until(relay, lambda: len(receiver.at("/a")) == 2 and receiver.at("/b"), 5)
        finally:
            relay.close()

    def deliveries(slug: str) -> list[str]:
        listed = httpx.get(f"{hooked.url}/api/teams/{slug}/webhook/deliveries", headers=ADMIN)
        return [item["status"] for item in listed.json()["items"]]

    assert (deliveries("team-a"), deliveries("team-b")) == (["delivered"] * 2, ["pending"])
    assert pruning.prune(hooked.database, now=utcnow() + timedelta(days=6)) == 0  # kept a week
    assert pruning.prune(hooked.database, now=utcnow() + timedelta(days=8), batch=1) == 2
    assert inbox_size(hooked) == 1  # team b's event: its delivery is still owed
    assert (deliveries("team-a"), deliveries("team-b")) == ([], ["pending"])

    # Magic Hour gives up after 24 hours; were it to repeat the event later, nothing is paid twice.
    assert post(hooked, bodies[0], signed(bodies[0])).json()["outcome"] == "received"
    assert inbox.drain(hooked.database).settled == 0
    assert (hooked.balance("team-a").spent, hooked.balance("team-b").spent) == (120, 120)
    with hooked.database.read() as session:
        assert audit.run(session).violations == []


def test_webhook_registration_is_the_admins_and_shows_its_secret_once(
    hooked: Ledger, make_ledger: Callable[..., Ledger]
) -> None:
    key = hooked.team("acme", 100)
    url = f"{hooked.url}/api/teams/acme/webhook"
    team = {"Authorization": f"Bearer {key}"}
    assert httpx.put(url, json={"url": "https://example.test/h"}, headers=team).status_code == 403
    for bad in ("ftp://example.test/h", "https://", "not a url", "javascript:alert(1)"):
        refused = httpx.put(url, json={"url": bad}, headers=ADMIN)
        assert refused.status_code == 422, bad
    refused = httpx.put(
        url, json={"url": "https://example.test/h", "events": ["video.x"]}, headers=ADMIN
    )
    assert refused.status_code == 422
    made = httpx.put(url, json={"url": "https://example.test/h"}, headers=ADMIN)
    assert made.status_code == 200 and made.json()["secret"].startswith("whsec_")
    shown = httpx.get(url, headers=ADMIN).json()
    assert "secret" not in shown and shown["url"] == "https://example.test/h"
    assert made.json()["secret"] not in json.dumps(shown)
    assert httpx.delete(url, headers=ADMIN).status_code == 204
    assert httpx.get(url, headers=ADMIN).status_code == 404
    # Without LEDGER_SECRET_KEY the relay is off, and says why.
    plain = make_ledger(webhook_secret=SECRET)  # the same database, another server
    off = httpx.put(
        f"{plain.url}/api/teams/acme/webhook", json={"url": "https://x.test/"}, headers=ADMIN
    )
    assert off.status_code == 409 and "LEDGER_SECRET_KEY" in off.json()["error"]["message"]


def test_the_sdk_s_job_is_settled_by_its_completed_event(hooked: Ledger, stack: ExitStack) -> None:
    """An errored render: the payload's credits_charged (0, refunded) ends the hold."""
    key = hooked.team("acme", 10_000)
    client = hooked.client(key, stack)
    created = client.v1.image_to_video.create(
        assets={"image_file_path": IMAGE}, end_seconds=5, model="kling-3.0"
    )
    body = event(created.id, "video.errored", credits=0)
    assert post(hooked, body, signed(body)).status_code == 200
    inbox.drain(hooked.database)
    [job] = hooked.jobs("acme")
    assert (job.status, job.charged_credits) == ("settled", 0)
    assert hooked.balance("acme").available == 10_000
    with pytest.raises(magic_hour.ApiError):  # still only the team's own projects
        client.v1.video_projects.get(id="made-in-the-web-app")


# -- with the simulator sending them, as Magic Hour does -------------------------------------


@contextmanager
def simulator_signing_to(ledger: Ledger, **options: Any) -> Iterator[Any]:
    """Point ``ledger`` at a simulator that signs and sends its webhooks to it."""
    from ledger.simulator.options import SimulatorOptions
    from ledger.simulator.testing import running_simulator
    from ledger.upstream import Upstream
    from tests.support.service import FAST, UPSTREAM_TOKEN

    settings = {
        **FAST,
        "token": UPSTREAM_TOKEN,
        "webhook_url": f"{ledger.url}/webhooks/magic-hour",
        "webhook_secret": SECRET,
        **options,
    }
    with running_simulator(SimulatorOptions(**settings)) as simulator:
        services = ledger.app.extensions["ledger"]
        services.proxy.upstream = Upstream(simulator.url, UPSTREAM_TOKEN, timeout=5)
        services.reconciler.upstream = services.proxy.upstream
        ledger.simulator = simulator
        yield simulator


@contextmanager
def draining(ledger: Ledger) -> Iterator[None]:
    """Drain the inbox in the background, as `ledger serve`'s scheduler does."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.05):
            inbox.drain(ledger.database)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def open_jobs(ledger: Ledger, slug: str) -> int:
    return sum(1 for job in ledger.jobs(slug) if job.ended_at is None)


def test_the_simulator_s_signed_webhooks_settle_every_job_without_a_poll(
    hooked: Ledger, stack: ExitStack
) -> None:
    with simulator_signing_to(hooked, job_error_rate=0.3, seed=11) as simulator, draining(hooked):
        key = hooked.team("acme", 100_000)
        client = hooked.client(key, stack)
        for seconds in (3, 4, 5, 6, 7, 8):
            client.v1.image_to_video.create(
                assets={"image_file_path": IMAGE}, end_seconds=seconds, model="kling-3.0"
            )
        deadline = time.monotonic() + 20
        while open_jobs(hooked, "acme") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_jobs(hooked, "acme") == 0  # no sweep ran: the webhooks alone
        truth = {j["id"]: j for j in simulator.jobs()}
        for job in hooked.jobs("acme"):
            assert job.charged_credits == truth[job.upstream_id]["final_credits_charged"]
        assert {truth[j.upstream_id]["status"] for j in hooked.jobs("acme")} == {
            "complete",
            "error",
        }
        assert project_gets(hooked) == 0


def test_a_project_made_outside_ledger_is_bypass_spend(hooked: Ledger) -> None:
    with simulator_signing_to(hooked) as simulator, draining(hooked):
        made = simulator.create_outside(
            "image-to-video",
            {"assets": {"image_file_path": IMAGE}, "end_seconds": 5, "model": "kling-3.0"},
        )
        deadline = time.monotonic() + 20
        bypass: dict[str, Any] = {}
        while time.monotonic() < deadline:
            bypass = httpx.get(f"{hooked.url}/api/drift", headers=ADMIN).json()["bypass"]
            if bypass["items"] and bypass["items"][0]["ended"]:
                break
            time.sleep(0.1)
        [item] = bypass["items"]
        final = simulator.job(made["id"])["final_credits_charged"]
        assert (item["project_id"], item["credits_charged"], item["ended"]) == (
            made["id"],
            final,
            True,
        )
        with hooked.database.read() as session:
            alerts = session.scalars(select(Alert).where(Alert.kind == "bypass")).all()
        assert len(alerts) == 1


def test_a_restart_between_the_answer_and_the_processing_loses_no_event(
    make_ledger: Callable[..., Ledger], database_url: str, stack: ExitStack, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A server answers an event and goes away before anything processed it (here: a server
    without a scheduler, stopped); `ledger serve` started afterwards settles the job from it."""
    from ledger.models import Job
    from tests.support.service import UPSTREAM_TOKEN, ledger_serve

    first = make_ledger(webhook_secret=SECRET)
    _, project = a_job(first, stack)
    first.simulator.wait_until_settled()
    final = first.simulator.job(project)["final_credits_charged"]
    body = event(project, credits=final)
    answer = post(first, body, signed(body))
    assert answer.status_code == 200 and answer.json()["outcome"] == "received"
    first.app.extensions["ledger"].close()  # that server is gone; its event is in the inbox
    with first.database.read() as session:
        assert session.scalars(select(WebhookEvent)).one().processed_at is None

    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_UPSTREAM_URL": first.simulator.url,
        "MAGIC_HOUR_API_KEY": UPSTREAM_TOKEN,
        "LEDGER_WEBHOOK_SECRET": SECRET,
        "LEDGER_POLL_INTERVAL": "0.5",
    }
    with ledger_serve(env, log_path=str(tmp_path / "serve.log")):  # with its scheduler
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with first.database.read() as session:
                row = session.scalars(select(WebhookEvent)).one()
            if row.processed_at is not None:
                break
            time.sleep(0.1)
    assert row.outcome == "settled"
    with first.database.read() as session:
        job = session.scalars(select(Job)).one()
    assert (job.status, job.charged_credits) == ("settled", final)
    assert project_gets(first) == 0  # the event settled it, not a poll


def test_an_event_that_fails_to_process_is_retried_and_holds_up_no_other(
    hooked: Ledger, stack: ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from ledger import accounting

    _, first = a_job(hooked, stack, "team-a")
    _, second = a_job(hooked, stack, "team-b")
    real_settle = accounting.settle
    refuse = {first}

    def settle(session, job_id, charged, **kwargs):  # type: ignore[no-untyped-def]
        job = session.get(Job, job_id)
        if job.upstream_id in refuse:
            raise OperationalError("UPDATE balances", {}, Exception("connection lost"))
        return real_settle(session, job_id, charged, **kwargs)

    monkeypatch.setattr(accounting, "settle", settle)
    for project in (first, second):
        body = event(project, credits=100)
        post(hooked, body, signed(body))
    report = inbox.drain(hooked.database)
    assert (report.settled, report.failed) == (1, 1)
    assert hooked.jobs("team-b")[0].status == "settled"
    assert hooked.jobs("team-a")[0].status == "submitted"
    refuse.clear()  # the database is back: the retry settles it
    deadline = time.monotonic() + 10
    while hooked.jobs("team-a")[0].status != "settled" and time.monotonic() < deadline:
        inbox.drain(hooked.database)
        time.sleep(0.1)
    assert hooked.jobs("team-a")[0].charged_credits == 100

"""Webhooks as Magic Hour sends them (``magic-hour-pricing.md`` §4), seen by a loopback receiver:
signed bodies, retries with backoff until a 2xx (or 24 simulated hours), nothing for a cancel,
and events for projects made outside ledger."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ledger.simulator.options import OptionsError, SimulatorOptions
from ledger.simulator.testing import SimulatorHandle, simulator_process

SECRET = "whsec-simulated-0123456789"
I2V = {"assets": {"image_file_path": "api-assets/id/a.png"}, "end_seconds": 5}
COLORIZE = {"assets": {"image_file_path": "api-assets/a.png"}}


@dataclass
class Delivery:
    at: float  # wall time it arrived
    headers: dict[str, str]  # lower-case names
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def key(self) -> tuple[str, str]:
        return self.body["payload"]["id"], self.body["type"]


def verify(delivery: Delivery, secret: str = SECRET) -> bool:
    """A receiver's check, with the published recipe."""
    timestamp = delivery.headers.get("magic-hour-event-timestamp", "")
    signature = delivery.headers.get("magic-hour-event-signature", "")
    if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 300:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + delivery.raw, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)


@dataclass
class Receiver:
    """A threaded loopback HTTP server recording every POST; ``respond`` picks each answer (a
    status, or a status and seconds to wait first) from the deliveries so far and this one."""

    url: str
    received: list[Delivery] = field(default_factory=list)
    respond: Callable[[list[Delivery], Delivery], int | tuple[int, float]] = lambda _, __: 204
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliveries(self) -> list[Delivery]:
        with self.lock:
            return list(self.received)

    def of(self, key: tuple[str, str]) -> list[Delivery]:
        return [d for d in self.deliveries() if d.key == key]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.deliveries())} of {count} webhooks arrived")
            time.sleep(0.01)
        return self.deliveries()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["content-length"]))
            delivery = Delivery(time.time(), {k.lower(): v for k, v in self.headers.items()}, raw)
            with state.lock:
                before = list(state.received)
                state.received.append(delivery)
            answer = state.respond(before, delivery)
            status, delay = answer if isinstance(answer, tuple) else (answer, 0.0)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/magic-hour"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def hooked(make_simulator: Any, receiver: Receiver, **overrides: Any) -> SimulatorHandle:
    return make_simulator(webhook_url=receiver.url, webhook_secret=SECRET, **overrides)


def counters(simulator: SimulatorHandle) -> dict[str, int]:
    return {k: v for k, v in simulator.state()["counters"].items() if k.startswith("webhook:")}


def counters_once(
    simulator: SimulatorHandle, expected: dict[str, int], timeout: float = 5.0
) -> dict[str, int]:
    """The webhook counters once they equal ``expected`` (the sender counts just after the
    receiver has answered), or as they are at ``timeout``."""
    deadline = time.monotonic() + timeout
    while (seen := counters(simulator)) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return seen


def test_every_webhook_is_signed_as_magic_hour_signs(
    make_simulator: Any, receiver: Receiver, sdk: Any
):
    simulator = hooked(make_simulator, receiver)
    client = sdk(simulator.url, "t")
    video_id = client.v1.image_to_video.create(**I2V).id
    simulator.wait_until_settled()
    started, completed = sorted(receiver.wait_for(2), key=lambda d: d.at)
    assert [started.key, completed.key] == [
        (video_id, "video.started"),
        (video_id, "video.completed"),
    ]
    for delivery in (started, completed):
        assert verify(delivery)
        assert not verify(delivery, "another-secret")
        tampered = Delivery(delivery.at, delivery.headers, delivery.raw.replace(b"}", b" }", 1))
        assert not verify(tampered)  # the signature covers the exact bytes sent
        assert delivery.headers["content-type"] == "application/json"
        assert set(delivery.body) == {"type", "payload"}
        assert "x-ledger-webhook-secret" not in delivery.headers
    # the payload is the project GET body at that moment
    assert started.body["payload"]["status"] == "rendering"
    got = client.v1.video_projects.get(id=video_id)
    final = completed.body["payload"]
    assert final["status"] == "complete" and final["downloads"]
    assert (
        final
        == httpx.get(
            f"{simulator.url}/v1/video-projects/{video_id}", headers={"authorization": "Bearer t"}
        ).json()
    )
    assert final["credits_charged"] == got.credits_charged
    assert counters_once(simulator, {"webhook:sent": 2}) == {"webhook:sent": 2}


def test_the_secret_is_never_shown(make_simulator: Any, receiver: Receiver):
    simulator = hooked(make_simulator, receiver, webhook_timeout=3.0)
    options = simulator.state()["options"]
    assert options["webhook_signed"] is True and options["webhook_timeout"] == 3.0
    assert SECRET not in json.dumps(simulator.state())
    made = SimulatorOptions(webhook_url=receiver.url, webhook_secret=SECRET)
    assert SECRET not in repr(made) and SECRET not in str(made.to_json())
    from ledger.simulator.app import create_simulator_app, runtime_of

    app = create_simulator_app(made)
    try:
        assert SECRET not in repr(runtime_of(app).webhooks)
    finally:
        runtime_of(app).close()


def test_a_url_needs_a_secret_and_a_timeout_must_be_positive():
    with pytest.raises(OptionsError, match="webhook_secret"):
        SimulatorOptions(webhook_url="http://127.0.0.1:9/hooks")
    with pytest.raises(OptionsError, match="webhook_secret"):
        SimulatorOptions(webhook_url="http://127.0.0.1:9/hooks", webhook_secret="")
    for bad in (0, -1.0, float("inf"), True):
        with pytest.raises(OptionsError, match="webhook_timeout"):
            SimulatorOptions(webhook_timeout=bad)


def test_events_started_completed_errored_and_none_for_a_cancel(
    make_simulator: Any, receiver: Receiver, sdk: Any
):
    ok = hooked(make_simulator, receiver)
    client = sdk(ok.url, "t")
    video_id = client.v1.image_to_video.create(**I2V).id
    image_id = client.v1.photo_colorizer.create(**COLORIZE).id
    failing = hooked(make_simulator, receiver, job_error_rate=1.0)
    audio_id = (
        sdk(failing.url, "t").v1.ai_music_generator.create(duration=15, style={"prompt": "x"}).id
    )
    # canceled mid-render by the rate (may have said it started), and by hand before it started
    canceling = hooked(make_simulator, receiver, cancel_rate=1.0, queue_seconds=0.0)
    by_rate = sdk(canceling.url, "t").v1.ai_meme_generator.create(
        style={"template": "Random", "topic": "x"}
    )
    slow = hooked(make_simulator, receiver, time_scale=1.0)
    by_hand = sdk(slow.url, "t").v1.image_to_video.create(**I2V).id
    slow.cancel(by_hand)
    for sim in (ok, failing, canceling):
        sim.wait_until_settled()
    receiver.wait_for(6)
    time.sleep(0.3)  # anything else would have arrived by now
    events = sorted(d.key for d in receiver.deliveries())
    assert all(verify(d) for d in receiver.deliveries())
    assert [e for e in events if e[0] not in (by_rate.id, by_hand)] == sorted(
        [
            (video_id, "video.started"),
            (video_id, "video.completed"),
            (image_id, "image.started"),
            (image_id, "image.completed"),
            (audio_id, "audio.started"),
            (audio_id, "audio.errored"),
        ]
    )
    # a canceled job never says how it ended
    assert [kind for job, kind in events if job == by_rate.id] in ([], ["image.started"])
    assert [kind for job, kind in events if job == by_hand] == []
    errored = next(d.body for d in receiver.deliveries() if d.key == (audio_id, "audio.errored"))
    assert errored["payload"]["status"] == "error" and errored["payload"]["credits_charged"] == 0


def test_a_failing_receiver_gets_the_event_until_it_answers_2xx_then_never_again(
    make_simulator: Any, receiver: Receiver, sdk: Any
):
    # each event: 500, 500, then 200
    receiver.respond = lambda before, this: (
        500 if sum(d.key == this.key for d in before) < 2 else 200
    )
    scale = 0.05  # backoff 1 s then 2 s simulated: 0.05 s then 0.1 s
    simulator = hooked(make_simulator, receiver, time_scale=scale)
    image_id = sdk(simulator.url, "t").v1.photo_colorizer.create(**COLORIZE).id
    simulator.wait_until_settled()
    receiver.wait_for(6)
    time.sleep(1.0)  # more than the next backoffs (0.2 s, 0.4 s): nothing else comes
    for event in ("image.started", "image.completed"):
        attempts = receiver.of((image_id, event))
        assert len(attempts) == 3, event
        assert len({d.raw for d in attempts}) == 1  # the same bytes every time
        assert all(verify(d) for d in attempts)  # each one signed for its own timestamp
        gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
        assert gaps[0] >= 1 * scale and gaps[1] >= 2 * scale, gaps  # backoff 1 s, 2 s ...
        assert gaps[1] < 2 * scale + 0.5, gaps  # ... of simulated time
    assert len(receiver.deliveries()) == 6
    expected = {"webhook:sent": 2, "webhook:failed": 4, "webhook:retried": 4}
    assert counters_once(simulator, expected) == expected


def test_no_answer_within_the_timeout_is_a_failure(
    make_simulator: Any, receiver: Receiver, sdk: Any
):
    # the first call of an event is answered 200 too late, the next one in time
    receiver.respond = lambda before, this: (
        (200, 1.0) if not any(d.key == this.key for d in before) else 200
    )
    simulator = hooked(make_simulator, receiver, webhook_timeout=0.3)
    image_id = sdk(simulator.url, "t").v1.photo_colorizer.create(**COLORIZE).id
    receiver.wait_for(4)
    time.sleep(0.3)
    assert sorted(d.key for d in receiver.deliveries()) == [
        (image_id, "image.completed"),
        (image_id, "image.completed"),
        (image_id, "image.started"),
        (image_id, "image.started"),
    ]
    expected = {"webhook:sent": 2, "webhook:failed": 2, "webhook:retried": 2}
    assert counters_once(simulator, expected) == expected


def test_retries_stop_24_simulated_hours_after_the_event(
    make_simulator: Any, receiver: Receiver, sdk: Any
):
    receiver.respond = lambda before, this: 503
    # 24 h x 1e-5 = 0.864 s of wall time; backoffs 1, 2, 4 ... 32768 s fit, 65536 s does not
    simulator = hooked(
        make_simulator, receiver, time_scale=1e-5, queue_seconds=0.0, render_base_seconds=0.0
    )
    image_id = sdk(simulator.url, "t").v1.photo_colorizer.create(**COLORIZE).id
    deadline = time.monotonic() + 10
    while counters(simulator).get("webhook:gave_up", 0) < 2:
        assert time.monotonic() < deadline, counters(simulator)
        time.sleep(0.05)
    seen = len(receiver.deliveries())
    time.sleep(0.3)
    assert len(receiver.deliveries()) == seen  # nothing after giving up
    for event in ("image.started", "image.completed"):
        attempts = receiver.of((image_id, event))
        assert 10 <= len(attempts) <= 17, (event, len(attempts))
        assert attempts[-1].at - attempts[0].at <= 86400 * 1e-5 + 0.1
    assert counters(simulator) == {
        "webhook:failed": seen,
        "webhook:retried": seen - 2,
        "webhook:gave_up": 2,
    }


def test_a_stuck_receiver_does_not_delay_the_api(make_simulator: Any, receiver: Receiver, sdk: Any):
    receiver.respond = lambda before, this: (200, 2.0)
    simulator = hooked(make_simulator, receiver, webhook_timeout=1.0)
    client = sdk(simulator.url, "t")
    client.v1.photo_colorizer.create(**COLORIZE)
    receiver.wait_for(1)  # the sender now waits for an answer
    began = time.monotonic()
    for _ in range(5):
        client.v1.photo_colorizer.create(**COLORIZE)
        client.v1.account.list()
    assert time.monotonic() - began < 0.9  # well before the sender's timeout ends


def test_projects_made_outside_ledger_are_charged_and_announced(
    make_simulator: Any, receiver: Receiver, sdk: Any
):
    simulator = hooked(make_simulator, receiver)
    client = sdk(simulator.url, "t")
    mine = client.v1.image_to_video.create(**I2V)
    outside = simulator.create_outside("image-to-video", I2V)
    assert set(outside) == {"id", "credits_charged", "estimated_frame_cost"}
    assert outside["credits_charged"] == mine.credits_charged == 240  # kling-3.0 720p 5 s
    image = simulator.create_outside("photo-colorizer", COLORIZE)
    assert set(image) == {"id", "credits_charged", "frame_cost"} and image["frame_cost"] == 10
    assert client.v1.account.list().credits == 1_000_000 - 240 - 240 - 10
    jobs = {job["id"]: job for job in simulator.wait_until_settled()}
    assert jobs[outside["id"]]["endpoint"] == "image-to-video"
    assert jobs[image["id"]]["kind"] == "image"
    # any client of the account sees it, and its events come like any other's
    assert client.v1.video_projects.get(id=outside["id"]).status == "complete"
    receiver.wait_for(6)
    keys = {d.key for d in receiver.deliveries()}
    assert {
        (outside["id"], "video.started"),
        (outside["id"], "video.completed"),
        (image["id"], "image.started"),
        (image["id"], "image.completed"),
    } <= keys
    assert all(verify(d) for d in receiver.deliveries())
    # not one of ledger's calls
    counted = simulator.state()["counters"]
    assert counted["POST /v1/image-to-video"] == 1
    assert counted["POST /_simulator/projects"] == 2


def test_projects_made_outside_are_validated_like_a_create(make_simulator: Any):
    simulator = make_simulator()
    with httpx.Client(base_url=simulator.url, headers={"authorization": "Bearer t"}) as http:
        bad_resolution = http.post(
            "/_simulator/projects",
            json={"endpoint": "image-to-video", "body": {**I2V, "resolution": "8k"}},
        )
        created_bad = http.post("/v1/image-to-video", json={**I2V, "resolution": "8k"})
        assert bad_resolution.status_code == created_bad.status_code == 400
        assert bad_resolution.json() == created_bad.json()
        unknown = http.post("/_simulator/projects", json={"endpoint": "no-such", "body": {}})
        assert unknown.status_code == 422 and unknown.json()["field"] == "endpoint"
        no_body = http.post("/_simulator/projects", json={"endpoint": "image-to-video"})
        assert no_body.status_code == 422 and no_body.json()["field"] == "body"
        assert http.post("/_simulator/projects", content=b"nope").status_code == 400
    assert simulator.jobs() == []
    assert simulator.state()["account"]["charged"] == 0
    with pytest.raises(httpx.HTTPStatusError):
        simulator.create_outside("image-to-video", {"end_seconds": 5})


def _without_secret_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LEDGER_SIMULATOR_WEBHOOK_SECRET"}


@pytest.mark.parametrize("secret", [[], ["--webhook-secret", ""]])
def test_cli_refuses_a_webhook_url_without_a_secret(secret: list[str]):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger",
            "simulator",
            "--webhook-url",
            "http://127.0.0.1:9/h",
            *secret,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=_without_secret_env(),
    )
    assert completed.returncode == 2
    assert "--webhook-secret" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr


def test_cli_signs_webhooks_under_gunicorn(receiver: Receiver):
    receiver.respond = lambda before, this: 500 if not before else 204
    args = ["--time-scale", "0.01", "--webhook-url", receiver.url, "--webhook-secret", SECRET]
    args += ["--webhook-timeout", "2.5"]
    with simulator_process(args, workers=1) as simulator:
        made = simulator.create_outside("photo-colorizer", COLORIZE)
        received = receiver.wait_for(3)  # the first one refused, then retried
        assert all(verify(d) for d in received)
        assert {d.key for d in received} == {
            (made["id"], "image.started"),
            (made["id"], "image.completed"),
        }
        state = simulator.state()
        assert state["options"]["webhook_timeout"] == 2.5
        assert SECRET not in json.dumps(state)
        expected = {"webhook:sent": 2, "webhook:failed": 1, "webhook:retried": 1}
        assert counters_once(simulator, expected) == expected

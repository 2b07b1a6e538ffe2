"""Projects over time: statuses, cost drift, failures with refunds, cancels, the account balance
and webhooks, as a client and the upstream's own records see them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import magic_hour
import pytest

from ledger.simulator.testing import SimulatorHandle

I2V = {"assets": {"image_file_path": "api-assets/id/a.png"}, "end_seconds": 5}


def test_status_goes_queued_rendering_complete(make_simulator: Any, sdk: Any):
    # 1 s queued, then 2 + 0.5 x 5 s rendering, at 1/20 speed, no jitter
    simulator = make_simulator(time_scale=0.05, jitter=0.0)
    client = sdk(simulator.url, "t")
    project_id = client.v1.image_to_video.create(**I2V).id
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = client.v1.video_projects.get(id=project_id).status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "complete":
            break
        time.sleep(0.01)
    assert seen == ["queued", "rendering", "complete"]


def test_per_frame_video_settles_to_the_rendered_frames(make_simulator: Any, sdk: Any):
    simulator = make_simulator(drift_rate=1.0, drift_fps=(24.0,))
    client = sdk(simulator.url, "t")
    created = client.v1.image_to_video.create(**I2V)
    assert created.credits_charged == 150
    simulator.wait_until_settled()
    project = client.v1.video_projects.get(id=created.id)
    assert project.status == "complete"
    assert project.fps == 24.0 and project.credits_charged == project.total_frame_cost == 120
    # fixed-price tools never drift
    image = client.v1.photo_colorizer.create(assets={"image_file_path": "api-assets/a.png"})
    simulator.wait_until_settled()
    assert client.v1.image_projects.get(id=image.id).credits_charged == 10


def test_failed_render_is_refunded(make_simulator: Any, sdk: Any):
    simulator = make_simulator(job_error_rate=1.0)
    client = sdk(simulator.url, "t")
    video = client.v1.text_to_video.create(end_seconds=5, style={"prompt": "x"})
    audio = client.v1.ai_music_generator.create(duration=60, style={"prompt": "x"})
    assert client.v1.account.list().credits == 1_000_000 - 150 - 60
    simulator.wait_until_settled()
    failed = client.v1.video_projects.get(id=video.id)
    assert failed.status == "error" and failed.error is not None and failed.downloads == []
    assert failed.credits_charged == 0
    assert client.v1.audio_projects.get(id=audio.id).credits_charged == 0
    assert client.v1.account.list().credits == 1_000_000


def test_cancel_by_hand_and_by_rate(make_simulator: Any, sdk: Any):
    simulator = make_simulator(time_scale=1.0)  # renders take seconds: time to cancel
    client = sdk(simulator.url, "t")
    project_id = client.v1.image_to_video.create(**I2V).id
    inspected = simulator.cancel(project_id)
    assert inspected["status"] == "canceled" and inspected["final_credits_charged"] == 0
    project = client.v1.video_projects.get(id=project_id)
    assert project.status == "canceled" and project.credits_charged == 0

    canceling = make_simulator(cancel_rate=1.0)
    client = sdk(canceling.url, "t")
    result = client.v1.text_to_video.generate(end_seconds=5, style={"prompt": "x"})
    assert result.status == "canceled" and result.credits_charged == 0
    assert not result.downloaded_paths


def test_cancel_after_the_end_is_refused(simulator: SimulatorHandle, client: magic_hour.Client):
    project_id = client.v1.ai_gif_generator.create(style={"prompt": "x"}).id
    simulator.wait_until_settled()
    with pytest.raises(Exception, match="409"):
        simulator.cancel(project_id)


def test_balance_equals_start_minus_final_credits(make_simulator: Any, sdk: Any):
    simulator = make_simulator(
        start_credits=50_000, drift_rate=0.5, job_error_rate=0.2, cancel_rate=0.1
    )
    client = sdk(simulator.url, "t")
    ids = []
    for seconds in range(1, 13):
        ids.append(
            (
                "video",
                client.v1.text_to_video.create(
                    end_seconds=seconds, style={"prompt": "x"}, model="ltx-2.5"
                ).id,
            )
        )
        ids.append(
            (
                "image",
                client.v1.ai_image_generator.create(
                    image_count=3, style={"prompt": "x"}, model="qwen-image-2.1"
                ).id,
            )
        )
        ids.append(
            (
                "audio",
                client.v1.ai_music_generator.create(
                    duration=15 + seconds, style={"prompt": "x"}
                ).id,
            )
        )
    simulator.wait_until_settled()
    getters = {
        "video": client.v1.video_projects.get,
        "image": client.v1.image_projects.get,
        "audio": client.v1.audio_projects.get,
    }
    finals = [getters[kind](id=project_id).credits_charged for kind, project_id in ids]
    assert client.v1.account.list().credits == 50_000 - sum(finals)
    truth = {job["id"]: job["final_credits_charged"] for job in simulator.jobs()}
    assert [truth[project_id] for _, project_id in ids] == finals
    statuses = {job["status"] for job in simulator.jobs()}
    assert statuses <= {"complete", "error", "canceled"} and len(statuses) > 1


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list]]:
    received: list = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/magic-hour", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_webhooks_started_completed_errored_none_for_cancel(
    make_simulator: Any, webhook_receiver, sdk: Any
):
    url, received = webhook_receiver
    headers = (("X-Ledger-Webhook-Secret", "s3cret"),)
    ok = make_simulator(webhook_url=url, webhook_headers=headers)
    client = sdk(ok.url, "t")
    video_id = client.v1.image_to_video.create(**I2V).id
    image_id = client.v1.photo_colorizer.create(assets={"image_file_path": "api-assets/a.png"}).id
    failing = make_simulator(webhook_url=url, webhook_headers=headers, job_error_rate=1.0)
    audio_id = (
        sdk(failing.url, "t").v1.ai_music_generator.create(duration=15, style={"prompt": "x"}).id
    )
    canceling = make_simulator(webhook_url=url, cancel_rate=1.0, queue_seconds=0.0)
    sdk(canceling.url, "t").v1.ai_meme_generator.create(style={"template": "Random", "topic": "x"})
    for sim in (ok, failing, canceling):
        sim.wait_until_settled()
    deadline = time.monotonic() + 5
    while len(received) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # anything else would arrive by now
    events = sorted((body["payload"]["id"], body["type"]) for _, body in received)
    canceled_started = [e for e in events if e[0] not in (video_id, image_id, audio_id)]
    assert sorted(e for e in events if e not in canceled_started) == sorted(
        [
            (video_id, "video.started"),
            (video_id, "video.completed"),
            (image_id, "image.started"),
            (image_id, "image.completed"),
            (audio_id, "audio.started"),
            (audio_id, "audio.errored"),
        ]
    )
    # a canceled job may have said it started; it never says how it ended
    assert [kind for _, kind in canceled_started] in ([], ["image.started"])
    completed = next(b for _, b in received if b["type"] == "video.completed")
    assert completed["payload"]["status"] == "complete" and completed["payload"]["downloads"]
    assert all(
        h.get("X-Ledger-Webhook-Secret") == "s3cret"
        for h, b in received
        if b["payload"]["id"] in (video_id, image_id, audio_id)
    )

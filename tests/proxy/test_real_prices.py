"""Real prices end to end: the official SDK -> ledger -> a simulator charging Magic Hour's
published rates. A premium model that does not fit is refused before anything is sent; a price
Magic Hour raised is flagged once and learned; an unpriced model is held at the fallback until
three settled jobs teach ledger its price (CONTRACT §3, §4a)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import httpx
import magic_hour
import pytest
from sqlalchemy import select

from ledger.cli import main
from ledger.models import Alert
from tests.support.service import ADMIN_TOKEN, Ledger

IMAGE = "api-assets/id/image.png"


def create(client: magic_hour.Client, seconds: int, model: str, resolution: str = "720p") -> Any:
    return client.v1.image_to_video.create(
        assets={"image_file_path": IMAGE}, end_seconds=seconds, model=model, resolution=resolution
    )


def generate(client: magic_hour.Client, seconds: int, model: str) -> Any:
    return client.v1.image_to_video.generate(
        assets={"image_file_path": IMAGE},
        end_seconds=seconds,
        model=model,
        resolution="720p",
        download_outputs=False,
    )


def dry_run(ledger: Ledger, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{ledger.url}/v1/image-to-video",
        json=body,
        headers={"Authorization": f"Bearer {key}", "X-Ledger-Dry-Run": "true"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def dry_run_until(
    ledger: Ledger, key: str, body: dict[str, Any], basis: str, timeout: float = 5.0
) -> dict[str, Any]:
    """A dry run once its basis is ``basis``: another server process learns within a second."""
    deadline = time.monotonic() + timeout
    while True:
        answer = dry_run(ledger, key, body)
        if answer["basis"] == basis or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def alerts(ledger: Ledger, kind: str) -> list[Alert]:
    with ledger.database.read() as session:
        return list(session.scalars(select(Alert).where(Alert.kind == kind)))


def pricing_check(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, capsys, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(
        "LEDGER_DATABASE_URL", ledger.database.url.render_as_string(hide_password=False)
    )
    with pytest.raises(SystemExit) as exited:
        main(["pricing", "check", *args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def fallback_estimates(ledger: Ledger, model: str) -> float:
    metrics = httpx.get(
        f"{ledger.url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).text
    series = f'ledger_fallback_estimates_total{{endpoint="image-to-video",model="{model}"}} '
    found = [line for line in metrics.splitlines() if line.startswith(series)]
    return float(found[0].split()[-1]) if found else 0.0


def test_a_premium_model_that_does_not_fit_is_refused_and_a_small_clip_settles(
    ledger: Ledger, stack: ExitStack
) -> None:
    key = ledger.team("acme", 1000)
    client = ledger.client(key, stack)
    with pytest.raises(magic_hour.ApiError) as refused:
        create(client, 10, "seedance-2.5")  # 576 credits/s at 720p
    assert refused.value.status_code == 402
    error = refused.value.body["error"]
    assert (error["code"], error["estimated_credits"], error["available_credits"]) == (
        "budget_exceeded",
        5760,
        1000,
    )
    assert ledger.creates_seen_upstream() == 0

    result = generate(client, 3, "kling-3.0")  # 48 credits/s at 720p: 144
    assert result.status == "complete"
    [job] = ledger.jobs("acme")
    [upstream] = ledger.simulator.jobs()
    assert (job.estimated_credits, job.status, job.model, job.resolution) == (
        144,
        "settled",
        "kling-3.0",
        "720p",
    )
    assert job.charged_credits == upstream["final_credits_charged"] == result.credits_charged
    assert ledger.balance("acme").spent == job.charged_credits


def test_a_price_magic_hour_raised_is_flagged_once_then_learned(
    make_ledger: Callable[..., Ledger],
    stack: ExitStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    ledger = make_ledger(price_changes=(("kling-3.0", 1.25),))
    key = ledger.team("acme", 10_000)
    client = ledger.client(key, stack)
    body = {"assets": {"image_file_path": IMAGE}, "end_seconds": 4, "model": "kling-3.0"}
    assert dry_run(ledger, key, body)["basis"] == "table"

    first = create(client, 4, "kling-3.0")  # the table says 192; Magic Hour now takes 240
    assert first.credits_charged == 240
    [job] = ledger.jobs("acme")
    assert (job.estimated_credits, job.held_credits, job.flag) == (192, 240, "under_reserved")
    [alert] = alerts(ledger, "under_reserved")
    assert "image-to-video kling-3.0 720p" in alert.message

    learned = dry_run_until(ledger, key, body, "learned")
    assert (learned["basis"], learned["estimated_credits"]) == ("learned", 240)
    longer = dry_run(ledger, key, {**body, "end_seconds": 10})
    assert longer["estimated_credits"] >= 600  # what Magic Hour charges now: 480 x 1.25

    second = create(client, 4, "kling-3.0")
    assert second.credits_charged == 240
    jobs = ledger.jobs("acme")
    assert (jobs[1].estimated_credits, jobs[1].flag) == (240, None)
    assert len(alerts(ledger, "under_reserved")) == 1  # once per key, not per job

    code, out, err = pricing_check(ledger, monkeypatch, capsys)
    assert code == 1
    assert "under-reserved: image-to-video kling-3.0 720p no audio: 1 of 2 jobs" in out
    assert "pricing check failed" in err
    code, out, _ = pricing_check(ledger, monkeypatch, capsys, "--from", "2099-01-01")
    assert code == 0 and "none under-reserved" in out


def test_a_30_fps_estimate_at_create_is_covered_once_learned(
    make_ledger: Callable[..., Ledger], stack: ExitStack
) -> None:
    """Magic Hour may take a 30 fps estimate at queue time and correct it when the render ends."""
    ledger = make_ledger(create_charge="30fps")
    key = ledger.team("acme", 10_000)
    client = ledger.client(key, stack)
    result = generate(client, 4, "kling-3.0")  # 192 published; 240 taken at create
    [job] = ledger.jobs("acme")
    assert (job.estimated_credits, job.flag, job.charged_credits) == (
        192,
        "under_reserved",
        result.credits_charged,
    )
    assert result.credits_charged == 192  # corrected when the render ended
    body = {"assets": {"image_file_path": IMAGE}, "end_seconds": 4, "model": "kling-3.0"}
    learned = dry_run_until(ledger, key, body, "learned")
    assert learned["estimated_credits"] == 240  # covers the queue-time charge
    create(client, 4, "kling-3.0")
    assert ledger.jobs("acme")[1].flag is None


def test_an_unpriced_model_is_held_at_the_fallback_until_three_jobs_settle(
    ledger: Ledger, stack: ExitStack
) -> None:
    key = ledger.team("acme", 10_000)
    client = ledger.client(key, stack)
    body = {"assets": {"image_file_path": IMAGE}, "end_seconds": 4, "model": "wan-3.0"}
    counted_before = fallback_estimates(ledger, "wan-3.0")
    fallback = dry_run(ledger, key, body)
    assert (fallback["basis"], fallback["estimated_credits"]) == ("fallback", 4 * 576)
    charges = []
    for settled in range(3):
        assert dry_run_until(ledger, key, body, "fallback")["basis"] == "fallback", settled
        charges.append(generate(client, 4, "wan-3.0").credits_charged)
    assert [j.estimated_credits for j in ledger.jobs("acme")] == [2304] * 3
    # 3 creates and at least 4 dry runs were estimated at the fallback
    assert fallback_estimates(ledger, "wan-3.0") - counted_before >= 7
    assert all(j.status == "settled" for j in ledger.jobs("acme"))
    learned = dry_run_until(ledger, key, body, "learned")
    assert learned["basis"] == "learned"
    assert learned["estimated_credits"] == max(charges)  # the largest charge seen, no less
    assert learned["estimated_credits"] < 2304


def test_observed_prices_list_each_pricing_key(
    make_ledger: Callable[..., Ledger], stack: ExitStack
) -> None:
    ledger = make_ledger(price_changes=(("kling-3.0", 1.25),))
    key = ledger.team("acme", 10_000)
    client = ledger.client(key, stack)
    generate(client, 4, "kling-3.0")
    generate(client, 3, "ltx-2.3")
    response = httpx.get(
        f"{ledger.url}/api/pricing/observed", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 200, response.text
    rows = {(r["model"], r["resolution"]): r for r in response.json()["items"]}
    kling, ltx = rows[("kling-3.0", "720p")], rows[("ltx-2.3", "720p")]
    assert (kling["jobs"], kling["estimated"], kling["charged"], kling["under_reserved"]) == (
        1,
        192,
        240,
        1,
    )
    assert (kling["max_ratio"], kling["basis"], kling["audio"]) == (1.25, "learned", False)
    assert (ltx["jobs"], ltx["estimated"], ltx["charged"], ltx["under_reserved"]) == (
        1,
        144,
        144,
        0,
    )
    assert (ltx["max_ratio"], ltx["basis"]) == (1.0, "table")

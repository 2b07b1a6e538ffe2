"""No input is answered 5xx, an account that cannot pay is answered 402, and face detection works
as SDK 0.90.0 and the official description say. Over real HTTP, loopback only, bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import magic_hour
import pytest

from ledger.simulator.testing import SimulatorHandle
from tests.simulator.sdk_requests import Endpoint, fields, with_value
from tests.simulator.test_conformance import ENDPOINTS, every_field_body

AUTH = {"Authorization": "Bearer t", "content-type": "application/json"}
ODD_VALUES: list[Any] = [
    10**400,  # past a double
    10**30,
    -(10**30),
    1e308,
    -1e308,
    5e-324,
    [],
    [1, 2],
    {},
    {"a": [1]},
    None,
    True,
    "\ud800",  # a lone surrogate
    "NaN",
    "Infinity",
    "-0",
    "1e999",
    "",
    "x" * 20_000,
]
RAW_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"42",
    b'"text"',
    b"{",
    b'{"end_seconds": NaN}',
    b'{"end_seconds": Infinity, "duration": -Infinity}',
    b'{"end_seconds": 1e999}',
    b'{"end_seconds": 1' + b"0" * 5000 + b"}",  # past Python's int digits limit
    b'{"name": "\\ud800\\udfff\\udc00"}',
    b"[" * 50_000 + b"]" * 50_000,  # deeper than json's recursion
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b"\xff\xfe not utf-8",
]


@pytest.fixture
def http(simulator: SimulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, headers=AUTH, timeout=30) as session:
        yield session


def odd_bodies(endpoint: Endpoint) -> Iterator[dict[str, Any]]:
    """Every field of the every-field body set, in turn, to every odd value."""
    full = every_field_body(endpoint)
    for field in fields(endpoint.body):
        for value in ODD_VALUES:
            yield with_value(full, field.path, value)
    # lists and scalars where the objects go, at the top
    for key, value in full.items():
        if isinstance(value, dict):
            yield {**full, key: [value]}
            yield {**full, key: {"unknown": [value], **value}}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_no_odd_json_is_answered_5xx(path: str, http: httpx.Client) -> None:
    for body in odd_bodies(ENDPOINTS[path]):
        response = http.post(f"/v1/{path}", content=json.dumps(body))
        assert response.status_code < 500, (body, response.text)
        assert response.headers["content-type"] == "application/json"
    for raw in RAW_BODIES:
        response = http.post(f"/v1/{path}", content=raw)
        assert response.status_code == 400, (raw[:40], response.text)


def test_the_face_editors_style_may_hold_anything(http: httpx.Client) -> None:
    """The issue's sweep got a 500 for a style key holding a list."""
    base = {"assets": {"image_file_path": "image/id/1234.png"}}
    for style in ({"mouth_smile": [5]}, {"mouth_smile": {"a": 1}}, [5], "x"):
        response = http.post("/v1/ai-face-editor", json={**base, "style": style})
        assert response.status_code == 400, (style, response.text)
    # unknown keys are let through, as everywhere (the SDK's models ignore them too)
    accepted = http.post("/v1/ai-face-editor", json={**base, "style": {"unknown": [5]}})
    assert accepted.status_code == 200, accepted.text


def test_other_paths_never_5xx(http: httpx.Client) -> None:
    for raw in RAW_BODIES:
        assert http.post("/v1/files/upload-urls", content=raw).status_code == 400
        assert http.patch("/_simulator/faults", content=raw).status_code in (400, 422)
    for item in ODD_VALUES:
        body = {"items": [{"type": item, "extension": item}, item]}
        assert http.post("/v1/files/upload-urls", content=json.dumps(body)).status_code == 400
    for odd_id in ("%ED%A0%80", "x" * 5000, "..", "%00"):
        for collection in ("video-projects", "image-projects", "audio-projects", "face-detection"):
            assert http.get(f"/v1/{collection}/{odd_id}").status_code == 404
    assert http.get("/_simulator/state").status_code == 200


# -- 402 ------------------------------------------------------------------------------------------

COLORIZE = {"assets": {"image_file_path": "image/id/1234.png"}}  # 10 credits (pricing §2)
QR = {"content": "https://example.com", "style": {"art_style": "Watercolor"}}  # free


def test_a_create_the_account_cannot_pay_for_is_402(make_simulator: Any) -> None:
    simulator = make_simulator(start_credits=25)
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:
        assert http.post("/v1/photo-colorizer", json=COLORIZE).status_code == 200
        assert http.post("/v1/photo-colorizer", json=COLORIZE).status_code == 200
        refused = http.post("/v1/photo-colorizer", json=COLORIZE)
        assert refused.status_code == 402
        assert refused.headers["content-type"] == "application/json"
        # the description's 402 example, and the code its docs give for the case
        assert refused.json() == {"message": "Payment required", "code": "insufficient_credits"}
        # 5 left: a 5-credit create still fits exactly, a free one always does
        remover = http.post("/v1/image-background-remover", json=COLORIZE)
        assert remover.status_code == 200
        assert http.post("/v1/ai-qr-code-generator", json=QR).status_code == 200
        assert http.post("/v1/photo-colorizer", json=COLORIZE).status_code == 402
        account = http.get("/v1/account").json()
    state = simulator.state()
    assert account["credits"] == state["account"]["credits"] == 0
    assert state["jobs"]["total"] == 4
    assert state["counters"]["rejected:insufficient_credits"] == 2


def test_the_sdk_sees_402_and_the_balance_never_goes_below_zero(
    make_simulator: Any, sdk: Any
) -> None:
    simulator = make_simulator(start_credits=1000)
    client: magic_hour.Client = sdk(simulator.url)
    with pytest.raises(magic_hour.ApiError) as refused:
        # 10 s of kling-3.0 at 1080p: 720 credits, twice
        for _ in range(2):
            client.v1.image_to_video.create(
                assets={"image_file_path": "image/id/1234.png"},
                end_seconds=10,
                model="kling-3.0",
                resolution="1080p",
            )
    assert refused.value.status_code == 402
    assert client.v1.account.list().credits == 280


def test_concurrent_creates_never_overdraw(make_simulator: Any) -> None:
    simulator = make_simulator(start_credits=1000)
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:

        def create(_: int) -> int:
            return http.post("/v1/photo-colorizer", json=COLORIZE).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(create, range(130)))
    assert statuses.count(200) == 100 and statuses.count(402) == 30
    assert simulator.state()["account"]["credits"] == 0


def test_a_huge_create_is_402_and_the_state_stays_readable(make_simulator: Any) -> None:
    """The issue's sweep took the account to -5.1e18 and then broke /_simulator/state."""
    simulator = make_simulator()
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:
        for path, changes in (
            ("face-swap", {"end_seconds": 1e300}),
            ("animation", {"fps": 1e200, "end_seconds": 1e200}),  # frames past a double
            ("auto-subtitle-generator", {"end_seconds": 9e15}),
            ("ai-video-upscaler", {"end_seconds": 1e18, "resolution": "4k"}),
        ):
            body = {**every_field_body(ENDPOINTS[path]), **changes}
            response = http.post(f"/v1/{path}", json=body)
            assert response.status_code == 402, response.text
    state = simulator.state()
    assert state["account"]["credits"] == 1_000_000 and state["jobs"]["total"] == 0


def test_refunds_free_the_credits_again(make_simulator: Any) -> None:
    simulator = make_simulator(start_credits=10, job_error_rate=1.0)
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:
        assert http.post("/v1/photo-colorizer", json=COLORIZE).status_code == 200
        assert http.post("/v1/photo-colorizer", json=COLORIZE).status_code == 402
        simulator.wait_until_settled()  # the render failed: refunded (API §4.1)
        assert http.post("/v1/photo-colorizer", json=COLORIZE).status_code == 200


# -- face detection -------------------------------------------------------------------------------


def test_face_detection_as_the_sdk_and_the_description_say(make_simulator: Any, sdk: Any) -> None:
    # slow enough to see it queued; 10 credits: the face swap photo's price (pricing §2)
    simulator = make_simulator(start_credits=10, time_scale=1.0, queue_seconds=0.5)
    client: magic_hour.Client = sdk(simulator.url)
    created = client.v1.face_detection.create(
        assets={"target_file_path": "image/id/1234.png"}, confidence_score=0.5
    )
    assert created.credits_charged == 0
    assert len(created.id) == 36 and created.id.count("-") == 4  # "uuid-example"
    first = client.v1.face_detection.get(id=created.id)
    assert first.status == "queued" and first.faces == []
    deadline = time.monotonic() + 10
    while (result := client.v1.face_detection.get(id=created.id)).status != "complete":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert result.credits_charged == 0
    assert [face.path for face in result.faces] == [
        f"api-assets/{created.id}/0-0.png",
        f"api-assets/{created.id}/0-1.png",
    ]
    for face in result.faces:
        assert httpx.get(face.url).status_code == 200
    # a face path is what face swap's individual-faces mode maps from
    swapped = client.v1.face_swap_photo.create(
        assets={
            "target_file_path": "image/id/1234.png",
            "face_swap_mode": "individual-faces",
            "face_mappings": [
                {"original_face": result.faces[1].path, "new_face": "image/id/5678.png"}
            ],
        }
    )
    assert swapped.credits_charged == 10
    # detection is free: an empty account may still detect
    again = client.v1.face_detection.create(assets={"target_file_path": "video/id/1234.mp4"})
    assert again.credits_charged == 0 and client.v1.account.list().credits == 0


def test_face_detection_refusals(make_simulator: Any) -> None:
    simulator = make_simulator()
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:
        for body in (
            {},
            {"assets": {}},
            {"assets": {"target_file_path": ""}},
            {"assets": {"target_file_path": "image/id/1.png"}, "confidence_score": 0.33},
            {"assets": {"target_file_path": "image/id/1.png"}, "confidence_score": -0.05},
        ):
            response = http.post("/v1/face-detection", json=body)
            assert response.status_code == 400, body
        assert http.get("/v1/face-detection/no-such-id").json() == {
            "message": "Not Found",
            "code": "not_found",
        }
        # no DELETE for face detection (API §3.5)
        created = http.post("/v1/face-detection", json={"assets": {"target_file_path": "a.png"}})
        assert http.delete(f"/v1/face-detection/{created.json()['id']}").status_code == 404


def test_face_detection_is_never_canceled(make_simulator: Any) -> None:
    """Its status enum has no canceled: a simulator that cancels renders must not cancel these."""
    simulator = make_simulator(cancel_rate=1.0)
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:
        ids = [
            http.post("/v1/face-detection", json={"assets": {"target_file_path": "a.png"}}).json()[
                "id"
            ]
            for _ in range(5)
        ]
        simulator.wait_until_settled()
        statuses = {http.get(f"/v1/face-detection/{job_id}").json()["status"] for job_id in ids}
    assert statuses == {"complete"}

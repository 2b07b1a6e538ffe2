"""Face detection through ledger: free, forwarded, and each result readable only by the team
that asked; and the face swap in individual-faces mode that needs it, end to end.

The official SDK -> ledger (real HTTP) -> the simulator (real HTTP).
"""

from __future__ import annotations

import asyncio
import os
from contextlib import ExitStack

import httpx
import magic_hour
import pytest
from sqlalchemy import func, select

from ledger.models import Entry, FaceDetection
from tests.support.service import Ledger

IMAGE = "api-assets/id/image.png"
VIDEO = "api-assets/id/video.mp4"


def entries(ledger: Ledger) -> int:
    with ledger.database.read() as session:
        return session.scalar(select(func.count(Entry.id))) or 0


def test_detection_is_free_and_forwarded(ledger: Ledger, stack: ExitStack) -> None:
    key = ledger.team("acme", 100)
    journal_before = entries(ledger)  # the team's allocation
    client = ledger.client(key, stack)
    created = client.v1.face_detection.create(
        assets={"target_file_path": IMAGE}, confidence_score=0.5
    )
    assert created.id and created.credits_charged == 0
    result = client.v1.face_detection.get(id=created.id)
    assert result.id == created.id and result.status in ("queued", "rendering", "complete")
    # No job, no hold, no journal entry: the budget is untouched.
    assert ledger.jobs("acme") == [] and entries(ledger) == journal_before
    view = ledger.balance("acme")
    assert (view.held, view.spent, view.available) == (0, 0, 100)
    counters = ledger.simulator.state()["counters"]
    assert counters["POST /v1/face-detection"] == 1


def test_a_detection_is_readable_only_by_the_team_that_asked(
    ledger: Ledger, stack: ExitStack
) -> None:
    acme = ledger.client(ledger.team("acme", 100), stack)
    other = ledger.team("other", 100)
    created = acme.v1.face_detection.create(assets={"target_file_path": IMAGE})
    unknown = httpx.get(
        f"{ledger.url}/v1/face-detection/no-such-id", headers={"Authorization": f"Bearer {other}"}
    )
    theirs = httpx.get(
        f"{ledger.url}/v1/face-detection/{created.id}",
        headers={"Authorization": f"Bearer {other}"},
    )
    # The same answer as for an id that does not exist: nothing says it is someone else's.
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.headers["content-type"] == "application/json"
    assert theirs.json() == unknown.json()
    assert theirs.json()["error"]["code"] == "not_found"
    with pytest.raises(magic_hour.ApiError) as refused:
        ledger.client(other, stack).v1.face_detection.get(id=created.id)
    assert refused.value.status_code == 404
    # Neither GET reached Magic Hour; the owner's does.
    assert "GET /v1/face-detection" not in ledger.simulator.state()["counters"]
    assert acme.v1.face_detection.get(id=created.id).id == created.id
    anonymous = httpx.get(f"{ledger.url}/v1/face-detection/{created.id}")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"


def test_a_bad_detection_body_is_refused_and_records_nothing(ledger: Ledger) -> None:
    key = ledger.team("acme", 100)
    response = httpx.post(
        f"{ledger.url}/v1/face-detection",
        content=b"[1, 2]",
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert "POST /v1/face-detection" not in ledger.simulator.state()["counters"]
    with ledger.database.read() as session:
        assert session.scalar(select(func.count()).select_from(FaceDetection)) == 0


def test_generate_sync_and_async_uploads_polls_and_downloads(ledger: Ledger, tmp_path) -> None:
    key = ledger.team("acme", 100)
    photo = tmp_path / "group.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    with httpx.Client(timeout=30) as http:
        client = magic_hour.Client(token=key, base_url=ledger.url, httpx_client=http)
        result = client.v1.face_detection.generate(
            assets={"target_file_path": str(photo)}, download_directory=str(tmp_path)
        )
    assert result.status == "complete" and len(result.faces) == 2
    assert all(os.path.getsize(path) > 0 for path in result.downloaded_paths)

    async def run() -> magic_hour.types.models.V1FaceDetectionGetResponse:
        client = magic_hour.AsyncClient(token=key, base_url=ledger.url)
        return await client.v1.face_detection.generate(
            assets={"target_file_path": str(photo)}, download_outputs=False
        )

    assert asyncio.run(run()).status == "complete"
    assert ledger.jobs("acme") == [] and ledger.balance("acme").available == 100


def test_face_swap_of_individual_faces_end_to_end(
    ledger: Ledger, stack: ExitStack, tmp_path
) -> None:
    """Detect the faces of a video, then swap one of them for a new face: the detection is
    free, the swap is priced (24 credits per second) and settles to what Magic Hour charged."""
    key = ledger.team("acme", 1000)
    client = ledger.client(key, stack)
    detected = client.v1.face_detection.generate(
        assets={"target_file_path": VIDEO}, download_outputs=False
    )
    assert detected.status == "complete" and detected.faces
    swapped = client.v1.face_swap.generate(
        assets={
            "video_source": "file",
            "video_file_path": VIDEO,
            "face_swap_mode": "individual-faces",
            "face_mappings": [{"original_face": detected.faces[0].path, "new_face": IMAGE}],
        },
        start_seconds=0,
        end_seconds=3,
        download_directory=str(tmp_path),
    )
    assert swapped.status == "complete" and swapped.downloaded_paths
    [job] = ledger.jobs("acme")
    assert (job.endpoint, job.status, job.charged_credits) == (
        "face-swap",
        "settled",
        swapped.credits_charged,
    )
    assert job.estimated_credits == 72  # 24 credits per second x 3 s
    view = ledger.balance("acme")
    assert (view.held, view.spent) == (0, swapped.credits_charged)

"""The upstream token never reaches a caller: not in a body, not in a header, whatever happens."""

from __future__ import annotations

from contextlib import ExitStack

import httpx

from tests.support.service import ADMIN_TOKEN, UPSTREAM_TOKEN, Ledger

IMAGE = "api-assets/id/image.png"


def test_the_upstream_token_never_reaches_a_caller(make_ledger, stack: ExitStack) -> None:  # type: ignore[no-untyped-def]
    ledger: Ledger = make_ledger(upstream_timeout=0.5)
    key = ledger.team("acme", 10_000)
    client = ledger.client(key, stack)
    responses: list[httpx.Response] = []
    with httpx.Client(base_url=ledger.url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {key}"}
        body = {"assets": {"image_file_path": IMAGE}, "end_seconds": 3}
        responses.append(http.post("/v1/image-to-video", json=body, headers=auth))
        for fault in ({"error_rate": 1.0}, {"drop_rate": 1.0}, {"rate_limit_rate": 1.0}):
            ledger.simulator.set_faults(**fault, scope="create")
            responses.append(http.post("/v1/image-to-video", json=body, headers=auth))
            ledger.simulator.clear_faults()
        responses += [
            http.get("/v1/account", headers=auth),
            http.post("/v1/files/upload-urls", json={"items": []}, headers=auth),
            http.get("/v1/video-projects/nope", headers=auth),
            http.get("/v1/anything", headers=auth),
            http.get("/metrics"),
            http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),
            http.get("/readyz"),
            http.get("/api/teams", headers={"Authorization": f"Bearer {UPSTREAM_TOKEN}"}),
        ]
    client.v1.image_to_video.create(assets={"image_file_path": IMAGE}, end_seconds=3)
    assert {r.status_code for r in responses} >= {200, 401, 404, 429, 500, 504}
    for response in responses:
        seen = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        assert UPSTREAM_TOKEN not in seen, response.request.url

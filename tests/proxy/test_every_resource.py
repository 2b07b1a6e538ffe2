"""Every create resource of the official SDK through ledger: ``create()``, then ``generate()`` with
the sync and the async client, each settled to what Magic Hour charged.

The official SDK 0.90.0 -> ledger (real HTTP) -> the simulator (real HTTP). The bodies are the
conformance test's (built from the SDK's own request types, with the pairings the docs require);
for ``generate()`` their asset paths become small local files, which the SDK uploads through
ledger before it creates, polls and downloads.
"""

from __future__ import annotations

import asyncio
import copy
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import magic_hour
import pytest

# The pairings the SDK's types cannot express live with the conformance test: one table for both.
from tests.simulator.test_conformance import ENDPOINTS, kind_of, required_body
from tests.support.service import Ledger

BUDGET = 10_000_000  # generous: three renders of any resource fit many times over

# The optional source face, so that both face swaps upload and swap a face (all-faces mode).
SOURCE_FACE: dict[str, dict[str, str]] = {
    "face-swap": {"image_file_path": "image/id/1234.png"},
    "face-swap-photo": {"source_file_path": "image/id/1234.png"},
}

# A few bytes per kind: the simulator takes any bytes; the SDK picks the type from the extension.
LOCAL_FILES = {
    "png": b"\x89PNG\r\n\x1a\n" + b"0" * 64,
    "mp4": b"\x00\x00\x00\x18ftypmp42" + b"0" * 64,
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"0" * 64,
}


def body_for(path: str) -> dict[str, Any]:
    body = copy.deepcopy(required_body(ENDPOINTS[path]))
    if path in SOURCE_FACE:
        body["assets"] = {**body["assets"], **SOURCE_FACE[path]}
    return body


def with_local_files(value: Any, folder: Path, key: str = "") -> Any:
    """``value`` with every uploaded asset path (``*_file_path``, ``*_file_paths``) replaced by a
    local file of the same extension, as a user hands them to ``generate()``."""
    if isinstance(value, dict):
        return {name: with_local_files(item, folder, name) for name, item in value.items()}
    if isinstance(value, list):
        return [with_local_files(item, folder, key) for item in value]
    if isinstance(value, str) and key.endswith(("_file_path", "_file_paths")):
        extension = value.rsplit(".", 1)[-1]
        local = folder / f"{key.removesuffix('s')}-{len(os.listdir(folder))}.{extension}"
        local.write_bytes(LOCAL_FILES[extension])
        return str(local)
    return value


def assert_complete(result: Any, folder: Path, mode: str) -> None:
    assert result.status == "complete", (mode, result.status, result.error)
    downloaded = result.downloaded_paths or []
    assert downloaded, (mode, "nothing downloaded")
    for path in downloaded:
        assert Path(path).parent == folder, (mode, path)
        assert os.path.getsize(path) > 0, (mode, path)


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_create_and_generate_sync_and_async_settle_to_what_upstream_charged(
    path: str, ledger: Ledger, stack: ExitStack, tmp_path: Path
) -> None:
    resource = ENDPOINTS[path].resource
    key = ledger.team("acme", BUDGET)
    client = ledger.client(key, stack)
    inputs, sync_out, async_out = (tmp_path / name for name in ("inputs", "sync", "async"))
    for folder in (inputs, sync_out, async_out):
        folder.mkdir()

    # create(): a valid body is forwarded and answered 2xx with an id.
    try:
        created = getattr(client.v1, resource).create(**body_for(path))
    except magic_hour.ApiError as refused:
        pytest.fail(f"{path} create: {refused.status_code} {refused.body}")
    assert created.id

    # generate(): uploads, create, polls and downloads through ledger, sync then async.
    result = getattr(client.v1, resource).generate(
        **with_local_files(body_for(path), inputs), download_directory=str(sync_out)
    )
    assert_complete(result, sync_out, "sync generate")

    async def generate_async() -> Any:
        async with httpx.AsyncClient(timeout=30) as http:
            async_client = magic_hour.AsyncClient(token=key, base_url=ledger.url, httpx_client=http)
            return await getattr(async_client.v1, resource).generate(
                **with_local_files(body_for(path), inputs), download_directory=str(async_out)
            )

    assert_complete(asyncio.run(generate_async()), async_out, "async generate")
    # Both generate()s uploaded every local file: ledger handed out the upload URLs.
    counters = ledger.simulator.state()["counters"]
    uploads = len(os.listdir(inputs))
    assert counters.get("POST /v1/files/upload-urls", 0) == uploads
    assert counters.get("PUT uploads", 0) == uploads

    if path == "face-detection":  # free: no job, no hold, nothing spent
        assert created.credits_charged == 0
        assert ledger.jobs("acme") == []
        view = ledger.balance("acme")
        assert (view.held, view.spent, view.available) == (0, 0, BUDGET)
        return

    # The create()'s render, read back as a user would: its final status settles it at once.
    projects = getattr(client.v1, f"{kind_of(created)}_projects")
    looked = projects.check_result(id=created.id, wait_for_completion=True, download_outputs=False)
    assert looked.status == "complete"

    truth = {job["id"]: job for job in ledger.simulator.jobs()}
    jobs = ledger.jobs("acme")
    assert len(jobs) == 3 and {job.upstream_id for job in jobs} == set(truth)
    assert {job.upstream_id for job in jobs} >= {created.id, result.id}
    for job in jobs:
        upstream = truth[job.upstream_id]
        assert (job.endpoint, job.status) == (path, "settled"), job.id
        assert job.charged_credits == upstream["final_credits_charged"], (job.id, upstream)
    settled = sum(job.charged_credits or 0 for job in jobs)
    assert settled == ledger.simulator.state()["account"]["charged"]
    view = ledger.balance("acme")
    assert (view.held, view.spent, view.available) == (0, settled, BUDGET - settled)

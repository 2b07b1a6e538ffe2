"""The real `ledger simulator` command: gunicorn workers sharing one state file."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import magic_hour
import pytest

from ledger.simulator.testing import simulator_process


def test_cli_serves_the_sdk_across_workers(tmp_path, sdk: Any):
    image = tmp_path / "in.png"
    image.write_bytes(b"png")
    args = [
        "--time-scale",
        "0.01",
        "--token",
        "cli-token",
        "--start-credits",
        "5000",
        "--drift-rate",
        "1",
        "--drift-fps",
        "25",
    ]
    with simulator_process(args, workers=2) as simulator:
        client = sdk(simulator.url, "cli-token")
        result = client.v1.image_to_video.generate(
            assets={"image_file_path": str(image)}, end_seconds=4, download_directory=str(tmp_path)
        )
        assert result.status == "complete" and result.downloaded_paths
        assert result.credits_charged == 100  # 25 fps x 4 s, estimated at 30 fps (120)
        # many calls land on both workers; every one sees every job
        ids = [
            client.v1.ai_meme_generator.create(style={"template": "Random", "topic": "x"}).id
            for _ in range(20)
        ]
        for project_id in ids:
            assert client.v1.image_projects.get(id=project_id).credits_charged == 10
        assert client.v1.account.list().credits == 5000 - 100 - 200
        assert simulator.state()["jobs"]["total"] == 21
        with pytest.raises(magic_hour.ApiError) as refused:
            sdk(simulator.url, "other").v1.account.list()
        assert refused.value.status_code == 401


def test_cli_fault_options_and_drop_under_gunicorn(sdk: Any):
    with simulator_process(["--drop-rate", "1"], workers=1) as simulator:
        client = sdk(simulator.url, "t")
        with pytest.raises(httpx.RemoteProtocolError):
            client.v1.ai_gif_generator.create(style={"prompt": "x"})
        [job] = simulator.jobs()
        assert job["fault"] == "drop" and job["estimated_credits"] == 50


def test_cli_refuses_bad_options():
    completed = subprocess.run(
        [sys.executable, "-m", "ledger", "simulator", "--error-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 2
    assert "--error-rate" in completed.stderr

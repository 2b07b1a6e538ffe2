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
        assert result.credits_charged == 200  # kling-3.0 720p 4 s: 192, rendered at 25 fps
        # many calls land on both workers; every one sees every job
        ids = [
            client.v1.ai_meme_generator.create(style={"template": "Random", "topic": "x"}).id
            for _ in range(20)
        ]
        for project_id in ids:
            assert client.v1.image_projects.get(id=project_id).credits_charged == 10
        assert client.v1.account.list().credits == 5000 - 200 - 200
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


def test_cli_pricing_options(sdk: Any):
    args = ["--time-scale", "0.01", "--create-charge", "30fps", "--price-change", "kling-3.0=1.25"]
    args += ["--price-change", "veo3.1=2"]
    with simulator_process(args, workers=1) as simulator:
        client = sdk(simulator.url, "t")
        created = client.v1.image_to_video.create(
            assets={"image_file_path": "api-assets/a.png"}, end_seconds=10, resolution="720p"
        )
        assert created.credits_charged == 750  # ceil(48 x 10 x 30/24 x 1.25)
        simulator.wait_until_settled()
        assert client.v1.video_projects.get(id=created.id).credits_charged == 600
        options = simulator.state()["options"]
        assert options["create_charge"] == "30fps"
        assert options["price_changes"] == {"kling-3.0": 1.25, "veo3.1": 2.0}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--error-rate", "2"], "--error-rate"),
        (["--create-charge", "24fps"], "--create-charge"),
        (["--price-change", "kling-3.0"], "--price-change"),
        (["--price-change", "kling-3.0=abc"], "--price-change"),
        (["--price-change", "kling-3.0=0"], "--price-change"),
        (["--price-change", "kling-3.0=-1"], "--price-change"),
        (["--price-change", "kling-3.0=inf"], "--price-change"),
        (["--price-change", "kling-3.0=nan"], "--price-change"),
        (["--price-change", "kling-9=1.5"], "kling-9"),
        (["--price-change", "veo3.1=1.5", "--price-change", "veo3.1=2"], "twice"),
    ],
)
def test_cli_refuses_bad_options(args: list[str], named: str):
    completed = subprocess.run(
        [sys.executable, "-m", "ledger", "simulator", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 2
    assert named in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr

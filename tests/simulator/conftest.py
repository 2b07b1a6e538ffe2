"""Fixtures: a simulator on a free loopback port, and official SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import magic_hour
import pytest

from ledger.simulator.options import SimulatorOptions
from ledger.simulator.testing import SimulatorHandle, running_simulator

# Renders of a few simulated seconds take a few hundredths of a second.
FAST = dict(time_scale=0.01, queue_seconds=1.0, render_base_seconds=2.0, jitter=0.2)


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's generate() sleeps MAGIC_HOUR_POLL_INTERVAL between polls (default 0.5 s)."""
    monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", "0.01")


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., SimulatorHandle]]:
    """Start simulators with given options (fast renders unless overridden); all stop at the end."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> SimulatorHandle:
            options = SimulatorOptions(**{**FAST, "seed": 7, **overrides})
            return stack.enter_context(running_simulator(options))

        yield make


@pytest.fixture
def simulator(make_simulator: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    return make_simulator()


@pytest.fixture
def sdk() -> Iterator[Callable[..., magic_hour.Client]]:
    """``sdk(url, token)``: an SDK client whose connections are closed when the test ends."""
    with ExitStack() as stack:

        def make(url: str, token: str | None = "test-token") -> magic_hour.Client:
            http = stack.enter_context(httpx.Client(timeout=60))
            return magic_hour.Client(token=token, base_url=url, httpx_client=http)

        yield make


@pytest.fixture
def client(simulator: SimulatorHandle, sdk: Callable[..., magic_hour.Client]) -> magic_hour.Client:
    return sdk(simulator.url)


@pytest.fixture
def async_client(simulator: SimulatorHandle) -> magic_hour.AsyncClient:
    return magic_hour.AsyncClient(token="test-token", base_url=simulator.url)


@pytest.fixture
def inputs(tmp_path: Any) -> dict[str, str]:
    """Small local files for generate() to upload, and a download directory."""
    paths = {
        "image": tmp_path / "in.png",
        "audio": tmp_path / "in.mp3",
        "video": tmp_path / "in.mp4",
    }
    for path in paths.values():
        path.write_bytes(b"not really media, the simulator does not look")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    return {**{k: str(v) for k, v in paths.items()}, "downloads": str(downloads)}

"""A load of SDK-style clients, for bench/latency_bench.py: creates, then polls until done.

    python bench/mixload.py --url http://127.0.0.1:P --key KEY --clients 64 --seconds 20
                            [--warmup 5] [--api-clients 2 --api-key TOKEN --api-path PATH]
                            [--only create|poll]

Each client is what the official SDK's ``generate()`` does, on one keep-alive connection: POST an
image-to-video create, then GET its project every 0.5 s until it is ``complete`` (or ``error``,
``canceled``), then the next create. ``--api-clients`` more clients read a ledger API path every
0.25 s (the dashboard, finance's scripts). ``--only create`` sends creates back to back (no
polls); ``--only poll`` polls one finished project back to back: they isolate one kind of call
to measure its CPU cost.

Prints one JSON document: per kind of call the requests counted in the measured window (after
the warm-up), their p50/p99 in ms, and the errors (non-2xx, socket errors, client timeouts).
asyncio on raw sockets, so that the load costs the shared cores little next to the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CREATE_PATH = "/v1/image-to-video"
CREATE_BODY = b'{"assets":{"image_file_path":"api-assets/id/a.png"},"end_seconds":3}'
PROJECT_PATH = "/v1/video-projects/{id}"
POLL_SECONDS = 0.5  # the SDK's generate() polls every 0.5 s
API_SECONDS = 0.25
CLIENT_TIMEOUT = 10.0
ENDED = {"complete", "error", "canceled"}


class Refused(Exception):
    """A non-2xx answer the client cannot go on from."""


@dataclass
class Kind:
    """What one kind of call saw inside the measured window."""

    latencies_ms: list[float] = field(default_factory=list)
    non2xx: int = 0
    socket_errors: int = 0
    timeouts: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)

        def percentile(share: float) -> float | None:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else None

        return {
            "requests": len(ordered),
            "rps": len(ordered) / seconds,
            "p50_ms": percentile(0.50),
            "p99_ms": percentile(0.99),
            "non2xx": self.non2xx,
            "socket_errors": self.socket_errors,
            "timeouts": self.timeouts,
            "statuses": self.statuses,
        }


class Window:
    """Counts calls that start after the warm-up and end before the deadline."""

    def __init__(self, warmup: float, seconds: float) -> None:
        now = time.monotonic()
        self.start = now + warmup
        self.end = self.start + seconds
        self.kinds: dict[str, Kind] = {}

    def open(self) -> bool:
        return time.monotonic() < self.end

    def record(self, kind: str, started: float, status: int | None, error: str | None) -> None:
        ended = time.monotonic()
        if started < self.start or ended > self.end:
            return
        counted = self.kinds.setdefault(kind, Kind())
        if error == "timeout":
            counted.timeouts += 1
        elif error is not None:
            counted.socket_errors += 1
        else:
            assert status is not None
            counted.statuses[str(status)] = counted.statuses.get(str(status), 0) + 1
            if 200 <= status < 300:
                counted.latencies_ms.append((ended - started) * 1e3)
            else:
                counted.non2xx += 1


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened after a close or an error."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        length = (
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n" if body else ""
        )
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nhost: {self.host}\r\n{self.head}{length}\r\n".encode()
            + (body or b"")
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        payload = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def call(
    window: Window, connection: Connection, kind: str, method: str, path: str, body: bytes | None
) -> tuple[int, bytes] | None:
    started = time.monotonic()
    try:
        status, payload = await asyncio.wait_for(
            connection.request(method, path, body), CLIENT_TIMEOUT
        )
    except TimeoutError:
        connection.close()
        window.record(kind, started, None, "timeout")
        return None
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        connection.close()
        window.record(kind, started, None, "socket")
        await asyncio.sleep(0.1)
        return None
    window.record(kind, started, status, None)
    return status, payload


async def generate(window: Window, connection: Connection) -> None:
    """The SDK's generate(): create, then poll every 0.5 s until the project has ended."""
    while window.open():
        answer = await call(window, connection, "create", "POST", CREATE_PATH, CREATE_BODY)
        if answer is None or answer[0] != 200:
            await asyncio.sleep(POLL_SECONDS)
            continue
        path = PROJECT_PATH.format(id=json.loads(answer[1])["id"])
        while window.open():
            await asyncio.sleep(POLL_SECONDS)
            answer = await call(window, connection, "poll", "GET", path, None)
            if answer is None or answer[0] != 200 or json.loads(answer[1])["status"] in ENDED:
                break


async def creates_only(window: Window, connection: Connection) -> None:
    while window.open():
        await call(window, connection, "create", "POST", CREATE_PATH, CREATE_BODY)


async def polls_only(window: Window, connection: Connection, path: str) -> None:
    while window.open():
        await call(window, connection, "poll", "GET", path, None)


async def api_reads(window: Window, connection: Connection, path: str) -> None:
    while window.open():
        await call(window, connection, "api", "GET", path, None)
        await asyncio.sleep(API_SECONDS)


async def finished_project(connection: Connection) -> str:
    """A project that has ended, for --only poll."""
    status, payload = await connection.request("POST", CREATE_PATH, CREATE_BODY)
    if status != 200:
        raise Refused(f"create answered {status}: {payload[:200]!r}")
    path = PROJECT_PATH.format(id=json.loads(payload)["id"])
    for _ in range(600):
        status, payload = await connection.request("GET", path, None)
        if status == 200 and json.loads(payload)["status"] in ENDED:
            return path
        await asyncio.sleep(0.1)
    raise Refused("the project did not end within 60 s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    def connection(token: str) -> Connection:
        return Connection(host, port, {"authorization": f"Bearer {token}"})

    path = await finished_project(connection(args.key)) if args.only == "poll" else ""
    window = Window(args.warmup, args.seconds)
    tasks = []
    for _ in range(args.clients):
        if args.only == "create":
            tasks.append(creates_only(window, connection(args.key)))
        elif args.only == "poll":
            tasks.append(polls_only(window, connection(args.key), path))
        else:
            tasks.append(generate(window, connection(args.key)))
    for _ in range(args.api_clients):
        tasks.append(api_reads(window, connection(args.api_key), args.api_path))
    await asyncio.gather(*tasks)
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "kinds": {name: kind.summary(args.seconds) for name, kind in window.kinds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--api-clients", type=int, default=0)
    parser.add_argument("--api-key", default="")
    parser.add_argument("--api-path", default="/api/teams")
    parser.add_argument("--only", choices=("create", "poll"))
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

"""``ledger demo``: the whole product in a few minutes, on SQLite and the simulator.

Starts ``ledger simulator`` and ``ledger serve`` (with a scheduler and webhooks) on a fresh SQLite
file in a new temporary directory, then tours the real HTTP path with the official magic-hour
SDK: two teams with keys, jobs accepted, one refused over budget, one failed upstream (released),
one canceled (refunded), reconciliation settling jobs at the cost that drifted, then balances and
a spend report. Every step checks that it did what it says; ``--exit`` ends there with exit 0 only
if all did. Otherwise the servers keep running (Ctrl-C stops them).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import click
import httpx

from ledger import processes

IMAGE = "api-assets/demo/cat.png"


class TourFailed(Exception):
    """A step of the tour did not do what it says."""


@dataclass
class Tour:
    out: TextIO
    started: float = field(default_factory=time.monotonic)
    failures: list[str] = field(default_factory=list)
    succeeded: bool = False

    def say(self, text: str = "") -> None:
        click.echo(text, file=self.out)

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        """A step: prints ✓ with what it found, or ✗ with why; notes are added by the body."""
        notes: list[str] = []
        begun = time.monotonic()
        try:
            yield notes
        except Exception as exc:  # every failure of a step is reported, then the tour goes on
            self.failures.append(f"{title}: {exc}")
            click.echo(f"  ✗ {title}: {exc}", file=self.out)
            return
        took = time.monotonic() - begun
        detail = f" ({'; '.join(notes)})" if notes else ""
        click.echo(f"  ✓ {title}{detail}  [{took:.1f}s]", file=self.out)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise TourFailed(message)


def free_port(preferred: int) -> int:
    """The preferred port if it is free on loopback, else any free one."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TourFailed(f"timed out waiting for {what}")


def run(port: int, simulator_port: int, exit_after: bool, out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the exit code. Its state directory is removed after a tour that
    did what it says (a failed one keeps it, for its logs)."""
    tour = Tour(out)
    state_dir = Path(tempfile.mkdtemp(prefix="ledger-demo-"))
    try:
        return _run(tour, state_dir, port, simulator_port, exit_after)
    finally:
        if tour.succeeded:  # the servers have stopped by now
            shutil.rmtree(state_dir, ignore_errors=True)


def _run(tour: Tour, state_dir: Path, port: int, simulator_port: int, exit_after: bool) -> int:
    database = state_dir / "ledger.db"
    upstream_token = "demo-" + secrets.token_urlsafe(16)
    admin_token = "demo-admin-" + secrets.token_urlsafe(16)
    webhook_secret = secrets.token_urlsafe(16)
    port, simulator_port = free_port(port), free_port(simulator_port)
    ledger_url = f"http://127.0.0.1:{port}"
    simulator_url = f"http://127.0.0.1:{simulator_port}"

    tour.say("ledger demo: a budget guard in front of a (simulated) Magic Hour account")
    tour.say(f"  state: {state_dir} (SQLite file {database.name})")
    with ExitStack() as stack:
        simulator = _start(
            stack,
            [
                "simulator",
                "--port",
                str(simulator_port),
                "--token",
                upstream_token,
                "--time-scale",
                "0.2",
                "--drift-rate",
                "1",
                "--webhook-url",
                f"{ledger_url}/webhooks/magic-hour",
            ],
            {"LEDGER_SIMULATOR_WEBHOOK_SECRET": webhook_secret},
            state_dir / "simulator.log",
        )
        env = {
            "LEDGER_STATE_DIR": str(state_dir),
            "LEDGER_DATABASE_URL": f"sqlite:///{database}",
            "LEDGER_UPSTREAM_URL": simulator_url,
            "MAGIC_HOUR_API_KEY": upstream_token,
            "LEDGER_ADMIN_TOKEN": admin_token,
            "LEDGER_WEBHOOK_SECRET": webhook_secret,
            "LEDGER_POLL_INTERVAL": "1",
            "LEDGER_UPSTREAM_TIMEOUT": "20",
        }
        server = _start(stack, ["serve", "--port", str(port)], env, state_dir / "ledger.log")
        http = stack.enter_context(httpx.Client(timeout=30))
        admin = {"Authorization": f"Bearer {admin_token}"}

        with tour.step("simulator started") as notes:
            wait_until(
                lambda: http.get(f"{simulator_url}/_simulator/healthz").status_code == 200,
                30,
                "the simulator",
            )
            notes.append(f"{simulator_url}; renders 5x faster; video comes out at 24-25 fps")
        with tour.step("ledger serve started") as notes:
            wait_until(
                lambda: http.get(f"{ledger_url}/readyz").status_code == 200, 60, "ledger serve"
            )
            notes.append(f"{ledger_url}; reconciliation every 1 s; signed webhooks on")
        if tour.failures:
            _show_logs(tour, state_dir)
            return 1
        # First, before the minute the tour takes: where to watch it happen.
        tour.say(f"\n  dashboard:   {ledger_url}/  (it fills in as the tour runs)")
        tour.say(f"  admin token: {admin_token}  (sign in with it)")
        if exit_after:
            tour.say("  (--exit: the demo stops when the tour ends)")
        tour.say()

        keys: dict[str, str] = {}
        with tour.step("teams created through the API") as notes:
            for slug, budget in (("design", 2000), ("marketing", 600)):
                response = http.post(
                    f"{ledger_url}/api/teams",
                    json={"slug": slug, "budget_credits": budget, "period": "month"},
                    headers=admin,
                )
                check(response.status_code == 201, f"creating {slug}: {response.text}")
                key = http.post(
                    f"{ledger_url}/api/teams/{slug}/keys", json={"label": "demo"}, headers=admin
                )
                check(key.status_code == 201, f"key for {slug}: {key.text}")
                keys[slug] = key.json()["key"]
                notes.append(f"{slug}: {budget} credits/month")
        tour_jobs(tour, http, ledger_url, simulator_url, keys, admin)
        print_numbers(tour, http, ledger_url, admin)

        if tour.failures:
            tour.say(f"\n{len(tour.failures)} step(s) did not do what they say:")
            for failure in tour.failures:
                tour.say(f"  - {failure}")
            _show_logs(tour, state_dir)
            return 1
        tour.say(f"\nEvery step did what it says ({time.monotonic() - tour.started:.0f}s).")
        if exit_after:
            tour.succeeded = True
            return 0
        tour.say(f"\nledger is serving at {ledger_url} (the simulator at {simulator_url}).")
        tour.say(f"  admin token: {admin_token}")
        tour.say(f"  team keys:   design {keys.get('design')}")
        tour.say(f"               marketing {keys.get('marketing')}")
        tour.say(f"  try: curl -H 'Authorization: Bearer {admin_token}' {ledger_url}/api/teams")
        tour.say("Ctrl-C stops both.")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            while not stopped.wait(1.0):
                if server.poll() is not None or simulator.poll() is not None:
                    tour.say("a server stopped; see the logs in " + str(state_dir))
                    return 1
        except KeyboardInterrupt:
            pass
        tour.say("stopping.")
        tour.succeeded = True
        return 0


def tour_jobs(
    tour: Tour,
    http: httpx.Client,
    ledger_url: str,
    simulator_url: str,
    keys: dict[str, str],
    admin: dict[str, str],
) -> None:
    import magic_hour

    design = magic_hour.Client(token=keys["design"], base_url=ledger_url, httpx_client=http)
    marketing = magic_hour.Client(token=keys["marketing"], base_url=ledger_url, httpx_client=http)
    os.environ.setdefault("MAGIC_HOUR_POLL_INTERVAL", "0.2")
    created: list[str] = []

    with tour.step("design: image-to-video create, 5 s") as notes:
        video = design.v1.image_to_video.create(
            assets={"image_file_path": IMAGE}, end_seconds=5, model="kling-3.0"
        )
        check(video.credits_charged == 240, f"expected 240 credits, got {video.credits_charged}")
        created.append(video.id)
        notes.append("kling-3.0 at 720p: 48 credits/s x 5 s = 240 held")
    with tour.step("design: text-to-video generate, 8 s, waits for the result") as notes:
        result = design.v1.text_to_video.generate(
            end_seconds=8,
            style={"prompt": "a lighthouse at dusk"},
            model="kling-3.0",
            download_outputs=False,
        )
        check(result.status == "complete", f"status {result.status}")
        slower = " (it came out at 25 fps, not 24)" if result.credits_charged > 384 else ""
        notes.append(f"held 384, settled at {result.credits_charged}{slower}")
    with tour.step("design: AI image generator, 2 images") as notes:
        images = design.v1.ai_image_generator.create(
            image_count=2, style={"prompt": "a red fox"}, model="flux-schnell"
        )
        notes.append(f"charged {images.credits_charged}")
    with tour.step("marketing: a premium model does not fit its 600 credits: refused") as notes:
        try:
            marketing.v1.image_to_video.create(
                assets={"image_file_path": IMAGE},
                end_seconds=10,
                model="seedance-2.5",
                resolution="720p",
            )
        except magic_hour.ApiError as refused:
            check(refused.status_code == 402, f"status {refused.status_code}")
            body = refused.body["error"]
            notes.append(
                f"402: seedance-2.5 at 720p, 10 s is {body['estimated_credits']} estimated "
                f"(576 credits/s), {body['available_credits']} available; nothing reached "
                "Magic Hour"
            )
        else:
            raise TourFailed("the request was accepted")
    tour.say(
        "    (a flat 30 credits/s table would have held 300 and let it through; Magic Hour "
        "would then have charged 5760)"
    )
    with tour.step("marketing: Magic Hour fails a create: the hold is released") as notes:
        http.patch(f"{simulator_url}/_simulator/faults", json={"error_rate": 1.0})
        try:
            marketing.v1.image_to_video.create(
                assets={"image_file_path": IMAGE}, end_seconds=4, model="ltx-2.3"
            )
            raise TourFailed("the create succeeded")
        except magic_hour.ApiError as failed:
            check(failed.status_code == 500, f"status {failed.status_code}")
        finally:
            http.put(f"{simulator_url}/_simulator/faults", json={})
        balance = http.get(f"{ledger_url}/api/teams/marketing/balance", headers=admin).json()
        check(balance["held"] == 0, f"marketing still holds {balance['held']}")
        notes.append("upstream 500 passed through; 0 credits held")
    with tour.step("marketing: a render canceled upstream is refunded") as notes:
        job = marketing.v1.image_to_video.create(
            assets={"image_file_path": IMAGE}, end_seconds=10, model="ltx-2.3"
        )
        canceled = http.post(f"{simulator_url}/_simulator/jobs/{job.id}/cancel")
        check(canceled.status_code == 200, f"cancel: {canceled.text}")
        created.append(job.id)
        notes.append(f"{job.credits_charged} held, then refunded")
    tour.say(
        "    (Magic Hour's signed webhooks settle each job as its render ends; a canceled render "
        "sends none, so ledger finds it with its safety-net poll, well after the render)"
    )
    with tour.step("reconciliation settles every job to what Magic Hour charged") as notes:
        begun = time.monotonic()
        wait_until(lambda: _open_jobs(http, ledger_url, admin) <= 1, 60, "the webhooks")
        by_webhooks = time.monotonic() - begun
        wait_until(lambda: _open_jobs(http, ledger_url, admin) == 0, 90, "settlement")
        truth = {
            j["id"]: j["final_credits_charged"]
            for j in http.get(f"{simulator_url}/_simulator/jobs").json()["items"]
        }
        jobs = http.get(f"{ledger_url}/api/jobs?limit=100", headers=admin).json()["items"]
        for job_view in jobs:
            if job_view["upstream_id"] in truth:
                check(
                    job_view["charged_credits"] == truth[job_view["upstream_id"]],
                    f"job {job_view['id']} charged {job_view['charged_credits']}, "
                    f"Magic Hour {truth[job_view['upstream_id']]}",
                )
        drifted = [
            j
            for j in jobs
            if j["charged_credits"] is not None and j["charged_credits"] < j["estimated_credits"]
        ]
        notes.append(f"{len(jobs)} jobs match Magic Hour's charges; {len(drifted)} cost less")
        notes.append(
            f"all but the canceled one within {by_webhooks:.1f}s, the canceled one "
            f"{time.monotonic() - begun:.0f}s in"
        )


def _open_jobs(http: httpx.Client, url: str, admin: dict[str, str]) -> int:
    jobs = http.get(f"{url}/api/jobs?limit=100", headers=admin).json()["items"]
    return sum(1 for j in jobs if j["ended_at"] is None)


def print_numbers(tour: Tour, http: httpx.Client, url: str, admin: dict[str, str]) -> None:
    from ledger.cli_support import render_table

    with tour.step("balances") as notes:
        teams = http.get(f"{url}/api/teams", headers=admin).json()["items"]
        rows = [
            {
                "team": t["slug"],
                "budget": t["balance"]["budget"],
                "held": t["balance"]["held"],
                "spent": t["balance"]["spent"],
                "available": t["balance"]["available"],
            }
            for t in teams
        ]
        check(all(r["held"] == 0 for r in rows), "credits still held after settlement")
        notes.append(f"{len(rows)} teams")
    tour.say("\n" + _indent(render_table(rows)))
    with tour.step("spend report, by team and endpoint") as notes:
        response = http.get(
            f"{url}/api/reports/spend", params={"group_by": "team,endpoint"}, headers=admin
        )
        check(response.status_code == 200, f"report: {response.text}")
        report = response.json()
        spent = sum(r["spent"] for r in rows)
        check(report["totals"]["spent"] == spent, "report totals differ from the balances")
        notes.append(f"{report['totals']['spent']} credits spent in all")
    table = [*report["rows"], {"team": "total", "endpoint": "", **report["totals"]}]
    tour.say("\n" + _indent(render_table(table)) + "\n")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _start(
    stack: ExitStack, args: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    stack.callback(handle.close)
    process = subprocess.Popen(
        processes.ledger_command(*args),
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process


def _show_logs(tour: Tour, state_dir: Path) -> None:
    for name in ("ledger.log", "simulator.log"):
        path = state_dir / name
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-15:]
            tour.say(f"\nlast lines of {path}:")
            for line in tail:
                tour.say("    " + line)

"""What `ledger serve` costs on the create path, measured side by side in one run.

    python bench/proxy_bench.py [--rounds 3] [--latency-seconds 6] [--load-seconds 8]
                                [--configs 2x8,4x4] [--postgres-url URL | --no-postgres]
                                [--no-floor] [--commit REV]

Starts `ledger simulator` (the upstream) and, for each gunicorn setting WORKERSxTHREADS:
the bare Flask + httpx pass-through (bench/passthrough_app.py), the floor for any ledger
(bench/floor_app.py: the pass-through plus a create's two durable writes, on SQLite and on
PostgreSQL; `--no-floor` leaves it out), `ledger serve` on a fresh SQLite file and `ledger serve`
on a fresh PostgreSQL database. Each round measures every variant in turn,
direct-to-simulator first, with wrk and bench/proxy_create.lua (POST /v1/image-to-video, one hot
team with a budget far beyond the run): 1 connection (median and p99 latency; the ADDED latency is
the variant's minus direct's) and 32 connections (requests/s, p99). The simulator is reset before
each measurement so that every variant meets the same upstream. Figures are medians over rounds.

Then, per ledger server, a tight-budget run: a team with 500 x 144 credits, 32 connections
hammering it; the ledger must accept exactly what fits, never more (held + spent <= budget),
upstream must have seen exactly the accepted creates, and `ledger audit` must pass.

Every server listens on a free loopback port and is stopped at the end, whatever happens. Exit
status 1 if a server does not start or a tool fails; targets missed are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

HERE = Path(__file__).resolve().parent
LUA = HERE / "proxy_create.lua"
PASSTHROUGH = HERE / "passthrough_app.py"
FLOOR = HERE / "floor_app.py"
ENDPOINT = "/v1/image-to-video"
CREDITS_PER_CREATE = 144  # bench/proxy_create.lua: kling-3.0 at 720p, 48 credits/s x 3 s
HOT_BUDGET = 10**12
FLOOR_KEY = "floor-key"  # bench/floor_app.py's one key
TIGHT_CREATES = 500
SIMULATOR_CREDITS = 10**15  # the upstream account never runs dry during the run
SIMULATOR_ARGS = ["--workers", "2", "--threads", "8", "--start-credits", str(SIMULATOR_CREDITS)]
TARGET_ADDED_P50_MS = 1.5
TARGET_SQLITE_RATIO = 0.8
TARGET_POSTGRES_RATIO = 0.6
READY_SECONDS = 60
STOP_SECONDS = 20


class BenchError(Exception):
    """A server did not start, or a tool failed: the run cannot give figures."""


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def start_server(
    stack: ExitStack,
    name: str,
    argv: list[str],
    ready_path: str,
    port: int,
    *,
    env: dict[str, str],
    workdir: Path,
) -> Server:
    """Start a server in its own process group; wait until ``ready_path`` answers 200."""
    log_path = workdir / f"{name}.log"
    log: IO[bytes] = stack.enter_context(open(log_path, "wb"))  # noqa: SIM115
    process = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.callback(stop, process)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if process.poll() is not None:
            raise BenchError(f"{name} exited with {process.returncode}:\n{tail(log_path)}")
        try:
            if is_ready(httpx.get(url + ready_path, timeout=1)):
                return Server(name, url, process, log_path)
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{name} not ready after {READY_SECONDS} s:\n{tail(log_path)}")
        time.sleep(0.1)


def is_ready(response: httpx.Response) -> bool:
    """200; or, from `ledger serve --no-scheduler`, a /readyz whose only complaint is that no
    reconciliation scheduler has beaten (the bench runs none: it measures the create path)."""
    if response.status_code == 200:
        return True
    try:
        checks = response.json()["checks"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(checks, dict) and all(
        value == "ok" for name, value in checks.items() if name != "scheduler"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn stops its workers), then SIGKILL to the group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_SECONDS)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_tool(argv: list[str], env: dict[str, str], workdir: Path, timeout: float = 120) -> str:
    done = subprocess.run(
        argv,
        env={**os.environ, **env},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv[2:])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def ledger_cli(env: dict[str, str], workdir: Path, *args: str) -> str:
    return run_tool([sys.executable, "-m", "ledger", *args], env, workdir)


def start_simulator(stack: ExitStack, workdir: Path) -> Server:
    """The upstream: `ledger simulator` with the settings every variant shares."""
    port = free_port()
    argv = [sys.executable, "-m", "ledger", "simulator", "--port", str(port), *SIMULATOR_ARGS]
    return start_server(
        stack, "simulator", argv, "/_simulator/healthz", port, env={}, workdir=workdir
    )


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def wrk(url: str, key: str, connections: int, seconds: float, threads: int) -> WrkResult:
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url + ENDPOINT,
    ]
    done = subprocess.run(
        argv,
        env={**os.environ, "PROXY_BENCH_KEY": key},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    line = next((s for s in done.stdout.splitlines() if s.startswith("PROXY_BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    values = dict(item.split("=", 1) for item in line.split()[1:])
    return WrkResult(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        non2xx=int(values["non2xx"]),
        socket_errors=int(values["socket_errors"]),
        p50_ms=int(values["p50_us"]) / 1e3,
        p99_ms=int(values["p99_us"]) / 1e3,
    )


@dataclass
class Variant:
    name: str
    url: str
    key: str
    group: int | None = None  # the server's process group, to measure its CPU time
    one: list[WrkResult] = field(default_factory=list)
    many: list[WrkResult] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # server CPU per request, 32 clients

    def median(self, results: str, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in getattr(self, results))

    def errors(self) -> int:
        return sum(r.non2xx + r.socket_errors for r in self.one + self.many)


def reset_simulator(simulator_url: str) -> None:
    httpx.post(f"{simulator_url}/_simulator/reset", timeout=30).raise_for_status()


def creates_upstream(simulator_url: str) -> int:
    state = httpx.get(f"{simulator_url}/_simulator/state", timeout=60).json()
    return int(state["counters"].get("POST " + ENDPOINT, 0))


def measure(variant: Variant, simulator_url: str, args: argparse.Namespace) -> None:
    reset_simulator(simulator_url)
    wrk(variant.url, variant.key, 32, args.warmup_seconds, args.wrk_threads)  # warm pools, JIT-less
    variant.one.append(wrk(variant.url, variant.key, 1, args.latency_seconds, 1))
    cpu_before = group_cpu_seconds(variant.group)
    variant.many.append(wrk(variant.url, variant.key, 32, args.load_seconds, args.wrk_threads))
    one, many = variant.one[-1], variant.many[-1]
    if variant.group is not None:
        used = group_cpu_seconds(variant.group) - cpu_before
        variant.cpu_ms.append(used / max(many.requests, 1) * 1e3)
    print(
        f"  {variant.name:<22} 1 client p50 {one.p50_ms:6.2f} ms p99 {one.p99_ms:6.2f} ms | "
        f"32 clients {many.rps:7.0f} req/s p99 {many.p99_ms:7.1f} ms"
        + (f", {variant.cpu_ms[-1]:.2f} ms CPU/req" if variant.cpu_ms else "")
        + f" | errors {one.non2xx + one.socket_errors + many.non2xx + many.socket_errors}",
        flush=True,
    )


def group_cpu_seconds(group: int | None) -> float:
    """User + system CPU time of the live processes of a process group (Linux /proc)."""
    if group is None:
        return 0.0
    # After the command: state, ppid, pgrp, ...
    return processes_cpu_seconds(lambda _entry, fields: int(fields[2]) == group)


def database_cpu_seconds(database: str | None) -> float:
    """User + system CPU time of the live PostgreSQL server processes serving ``database``
    (their command lines read ``postgres: [CLUSTER:] USER DATABASE HOST ...``); 0 without one."""
    if database is None:
        return 0.0

    def serves(entry: Path, _fields: list[str]) -> bool:
        words = (entry / "cmdline").read_bytes().split()
        if not words or words[0] != b"postgres:":
            return False
        rest = words[2:] if len(words) > 1 and words[1].endswith(b":") else words[1:]
        return len(rest) >= 2 and rest[1] == database.encode()

    return processes_cpu_seconds(serves)


def processes_cpu_seconds(chosen: Callable[[Path, list[str]], bool]) -> float:
    """User + system CPU time of the live processes ``chosen`` picks (given each one's /proc
    entry and the fields of its stat after the command)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if chosen(entry, fields):
                total += int(fields[11]) + int(fields[12])  # utime and stime
        except OSError:
            continue  # gone meanwhile
    return total / os.sysconf("SC_CLK_TCK")


# -- ledger set-up and the overspend check -----------------------------------------------------


def create_team(env: dict[str, str], workdir: Path, slug: str, budget: int) -> str:
    ledger_cli(env, workdir, "teams", "create", slug, "--budget", str(budget), "--period", "none")
    found = re.search(r"mhl_[A-Za-z0-9_-]+", ledger_cli(env, workdir, "keys", "create", slug))
    if found is None:
        raise BenchError(f"no key printed for team {slug}")
    return found.group(0)


@dataclass
class OverspendCheck:
    variant: str
    budget: int
    accepted: int
    refused: int
    other: int
    held_plus_spent: int
    available: int
    upstream_creates: int
    audit_ok: bool | None = None
    audit_output: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.held_plus_spent <= self.budget
            and self.available >= 0
            and self.upstream_creates == self.accepted
            and self.audit_ok is not False
        )


def tight_budget_run(
    name: str,
    server_url: str,
    simulator_url: str,
    env: dict[str, str],
    workdir: Path,
    args: argparse.Namespace,
) -> OverspendCheck:
    """32 clients against a team with room for TIGHT_CREATES creates; count what got through."""
    slug = "tight"
    budget = TIGHT_CREATES * CREDITS_PER_CREATE
    key = create_team(env, workdir, slug, budget)
    reset_simulator(simulator_url)
    for _ in range(5):  # until the budget is spent: a slow server needs more than one burst
        wrk(server_url, key, 32, args.tight_seconds, args.wrk_threads)
        if count_refused(server_url, key):
            break
    time.sleep(0.5)  # wrk has closed its connections; nothing is in flight any more
    upstream = creates_upstream(simulator_url)
    view = json.loads(ledger_cli(env, workdir, "teams", "show", slug, "--json"))
    statuses = job_statuses(env["LEDGER_DATABASE_URL"], slug)
    accepted = statuses.pop("submitted", 0) + statuses.pop("settled", 0)
    return OverspendCheck(
        variant=name,
        budget=budget,
        accepted=accepted,
        refused=count_refused(server_url, key),
        other=sum(statuses.values()),
        held_plus_spent=int(view["held"]) + int(view["spent"]),
        available=int(view["available"]),
        upstream_creates=upstream,
    )


def job_statuses(database_url: str, slug: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT j.status, count(*) FROM jobs j JOIN teams t ON t.id = j.team_id "
                    "WHERE t.slug = :slug GROUP BY j.status"
                ),
                {"slug": slug},
            )
            return {str(status): int(n) for status, n in rows}
    finally:
        engine.dispose()


def count_refused(server_url: str, key: str) -> int:
    """One more create now must be refused with 402 (the budget is spent); returns 1 if so."""
    body = {"assets": {"image_file_path": "api-assets/id/a.png"}, "end_seconds": 3}
    reply = httpx.post(
        server_url + ENDPOINT, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return 1 if reply.status_code == 402 else 0


def audit(check: OverspendCheck, env: dict[str, str], workdir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "audit"],
        env={**os.environ, **env},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    check.audit_ok = done.returncode == 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    check.audit_output = lines[-1] if lines else ""


# -- PostgreSQL --------------------------------------------------------------------------------


def postgres_database(stack: ExitStack, admin_url: str, name: str) -> str:
    """Create a fresh database; drop it when the stack closes (after the servers stop)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

    stack.callback(drop)
    return url.set(database=name).render_as_string(hide_password=False)


# -- the run -----------------------------------------------------------------------------------


@dataclass
class ConfigResult:
    workers: int
    threads: int
    variants: list[Variant]
    checks: list[OverspendCheck]

    @property
    def label(self) -> str:
        return f"{self.workers}x{self.threads}"

    def variant(self, prefix: str) -> Variant | None:
        return next((v for v in self.variants if v.name.startswith(prefix)), None)


def fresh_databases(
    stack: ExitStack, prefix: str, label: str, workdir: Path, args: argparse.Namespace
) -> list[tuple[str, str]]:
    """A fresh SQLite file and, unless --no-postgres, a fresh PostgreSQL database: (kind, URL)."""
    databases = [("SQLite", f"sqlite:///{workdir / f'{prefix}-{label}.db'}")]
    if args.postgres_url:
        name = f"{prefix}_bench_{os.getpid()}_{label}"
        databases.append(("PostgreSQL", postgres_database(stack, args.postgres_url, name)))
    return databases


def start_bench_app(
    stack: ExitStack, script: Path, name: str, argv: list[str], workdir: Path
) -> Server:
    """One of bench/'s own servers (the pass-through, the floor) on a free port."""
    port = free_port()
    command = [sys.executable, str(script), "--port", str(port), *argv]
    return start_server(stack, name, command, "/healthz", port, env={}, workdir=workdir)


def run_config(
    stack: ExitStack,
    workers: int,
    threads: int,
    simulator_url: str,
    args: argparse.Namespace,
    workdir: Path,
) -> ConfigResult:
    label = f"{workers}x{threads}"
    gunicorn = ["--workers", str(workers), "--threads", str(threads)]
    upstream = ["--upstream", simulator_url]
    print(f"\n== workers x threads = {label} ==", flush=True)
    variants = [Variant("direct", simulator_url, "bench-token")]

    passthrough = start_bench_app(
        stack, PASSTHROUGH, f"passthrough-{label}", [*upstream, *gunicorn], workdir
    )
    variants.append(
        Variant("pass-through", passthrough.url, "bench-token", passthrough.process.pid)
    )
    if args.floor:
        for kind, database_url in fresh_databases(stack, "floor", label, workdir, args):
            argv = [*upstream, "--database", database_url, *gunicorn]
            floor = start_bench_app(stack, FLOOR, f"floor-{kind}-{label}", argv, workdir)
            variants.append(Variant(f"floor {kind}", floor.url, FLOOR_KEY, floor.process.pid))

    databases = fresh_databases(stack, "ledger", label, workdir, args)
    no_scheduler = not args.scheduler and has_option("serve", "--no-scheduler")
    extra = ["--no-scheduler"] if no_scheduler else []
    envs: dict[str, dict[str, str]] = {}
    servers: list[Server] = []
    for kind, database_url in databases:
        name = f"ledger {kind}"
        env = {
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_UPSTREAM_URL": simulator_url,
            "LEDGER_STATE_DIR": str(workdir / "var"),
            "MAGIC_HOUR_API_KEY": "bench-upstream-token",
        }
        port = free_port()
        server = start_server(
            stack,
            f"{name.replace(' ', '-')}-{label}",
            [sys.executable, "-m", "ledger", "serve", "--port", str(port), *gunicorn, *extra],
            "/readyz",
            port,
            env=env,
            workdir=workdir,
        )
        servers.append(server)
        key = create_team(env, workdir, "hot", HOT_BUDGET)
        variants.append(Variant(name, server.url, key, server.process.pid))
        envs[name] = env

    for number in range(1, args.rounds + 1):
        print(f" round {number}/{args.rounds}", flush=True)
        for variant in variants:
            measure(variant, simulator_url, args)

    checks = [
        tight_budget_run(v.name, v.url, simulator_url, envs[v.name], workdir, args)
        for v in variants
        if v.name in envs
    ]
    # Stop the servers (nothing in flight), then audit each database before it is dropped.
    for server in servers:
        stop(server.process)
    for check in checks:
        audit(check, envs[check.variant], workdir)
    return ConfigResult(workers, threads, variants, checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="2x8,4x4", help="WORKERSxTHREADS, comma separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-seconds", type=int, default=6)
    parser.add_argument("--load-seconds", type=int, default=8)
    parser.add_argument("--warmup-seconds", type=int, default=2)
    parser.add_argument("--tight-seconds", type=int, default=6)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="an existing database to connect to; the bench creates and drops its own",
    )
    parser.add_argument("--no-postgres", dest="postgres_url", action="store_const", const="")
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="leave out bench/floor_app.py (the pass-through plus a create's two durable writes)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--scheduler",
        action="store_true",
        help="let `ledger serve` run its reconciliation scheduler (default: --no-scheduler, so "
        "that only the create path is measured)",
    )
    parser.add_argument(
        "--commit",
        help="measure the ledger package of this commit (a `git archive` snapshot put first on "
        "PYTHONPATH) instead of the working tree, which others may be editing",
    )
    args = parser.parse_args()
    configs = [tuple(int(n) for n in c.split("x")) for c in args.configs.split(",")]
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 1

    print(machine_line())
    print(
        f"wrk -t{args.wrk_threads}: {args.rounds} rounds of {args.latency_seconds:g} s at 1 "
        f"connection and {args.load_seconds:g} s at 32, after {args.warmup_seconds:g} s warm-up; "
        f"simulator {' '.join(SIMULATOR_ARGS)}",
        flush=True,
    )
    results: list[ConfigResult] = []
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        try:
            print(use_code(args.commit, workdir), flush=True)
            simulator = start_simulator(stack, workdir)
            for workers, threads in configs:
                with ExitStack() as config_stack:
                    results.append(
                        run_config(config_stack, workers, threads, simulator.url, args, workdir)
                    )
        except (BenchError, subprocess.TimeoutExpired, httpx.HTTPError) as exc:
            print(f"\nproxy_bench: {exc}", file=sys.stderr)
            return 1
    report(results)
    if args.json:
        args.json.write_text(json.dumps(as_json(results), indent=2))
    return 0


# -- reporting ---------------------------------------------------------------------------------


def has_option(command: str, option: str) -> bool:
    helptext = subprocess.run(
        [sys.executable, "-m", "ledger", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    return option in helptext


def use_code(commit: str | None, workdir: Path) -> str:
    """Which ledger code the servers run; with ``commit``, a snapshot of it on PYTHONPATH."""
    repo = HERE.parent
    head = git(repo, "rev-parse", "--short", "HEAD").strip()
    if not commit:
        dirty = git(repo, "status", "--porcelain", "--", "ledger").strip()
        return f"code: working tree at {head}" + (", ledger/ has uncommitted changes" * bool(dirty))
    code = workdir / "code"
    code.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", commit, "ledger"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if archive.returncode != 0:
        raise BenchError(f"git archive {commit}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True, timeout=60)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p
    )
    resolved = git(repo, "rev-parse", "--short", commit).strip()
    return f"code: ledger/ of commit {resolved} (snapshot on PYTHONPATH; working tree at {head})"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def machine_line() -> str:
    wrk_version = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False, timeout=10
    ).stdout.split(" [")[0]
    return (
        f"machine: {os.cpu_count()} cores shared by wrk, the simulator, the proxy and the "
        f"database; {platform.platform()}; Python {platform.python_version()}; {wrk_version}"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(results: list[ConfigResult]) -> None:
    for result in results:
        print_config(result)
    ranked = [r for r in results if r.variant("ledger SQLite")]
    if not ranked:
        return
    best = max(ranked, key=lambda r: ratio(r, "ledger SQLite") or 0)
    print(f"\nbest setting for ledger serve on SQLite (32-client throughput): {best.label}")
    direct, sqlite_ = best.variant("direct"), best.variant("ledger SQLite")
    assert direct is not None and sqlite_ is not None
    added = sqlite_.median("one", "p50_ms") - direct.median("one", "p50_ms")
    print(
        f"target added p50 <= {TARGET_ADDED_P50_MS} ms on SQLite: {added:.2f} ms, "
        f"{verdict(added <= TARGET_ADDED_P50_MS)}"
    )
    sqlite_ratio = ratio(best, "ledger SQLite") or 0
    print(
        f"target SQLite throughput >= {TARGET_SQLITE_RATIO} x pass-through: {sqlite_ratio:.2f}, "
        f"{verdict(sqlite_ratio >= TARGET_SQLITE_RATIO)}"
    )
    best_pg = max(results, key=lambda r: ratio(r, "ledger PostgreSQL") or 0)
    pg_ratio = ratio(best_pg, "ledger PostgreSQL")
    if pg_ratio is not None:
        print(
            f"target PostgreSQL throughput >= {TARGET_POSTGRES_RATIO} x pass-through: "
            f"{pg_ratio:.2f} at {best_pg.label}, {verdict(pg_ratio >= TARGET_POSTGRES_RATIO)}"
        )
    for kind in ("SQLite", "PostgreSQL"):
        floors = [(r.label, ratio(r, f"floor {kind}")) for r in results]
        shown = ", ".join(f"{share:.2f} at {label}" for label, share in floors if share)
        if shown:
            print(f"floor on {kind} (two durable writes alone, floor_app.py): {shown} x pass")
    checks = [c for r in results for c in r.checks]
    print(f"zero overspend in every tight-budget run: {verdict(all(c.ok for c in checks))}")


def ratio(result: ConfigResult, prefix: str) -> float | None:
    variant, floor = result.variant(prefix), result.variant("pass-through")
    if variant is None or floor is None:
        return None
    return variant.median("many", "rps") / floor.median("many", "rps")


def print_config(result: ConfigResult) -> None:
    direct = result.variant("direct")
    assert direct is not None
    print(f"\n-- workers x threads = {result.label} (medians of {len(direct.one)} rounds) --")
    header = (
        f"{'variant':<18} {'1c p50':>7} {'1c p99':>7} {'+p50':>6} {'+p99':>6} "
        f"{'32c req/s':>9} {'32c p99':>8} {'x pass':>6} {'CPU/req':>7} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    d50, d99 = direct.median("one", "p50_ms"), direct.median("one", "p99_ms")
    for v in result.variants:
        p50, p99 = v.median("one", "p50_ms"), v.median("one", "p99_ms")
        share = ratio(result, v.name)
        cpu = f"{statistics.median(v.cpu_ms):7.2f}" if v.cpu_ms else f"{'-':>7}"
        print(
            f"{v.name:<18} {p50:7.2f} {p99:7.2f} {p50 - d50:+6.2f} {p99 - d99:+6.2f} "
            f"{v.median('many', 'rps'):9.0f} {v.median('many', 'p99_ms'):8.1f} "
            f"{share if share is not None else 0:6.2f} {cpu} {v.errors():6d}"
        )
    print(
        "(latencies in ms; +p50/+p99: added over direct at 1 client; x pass: 32-client "
        "throughput / pass-through's; CPU/req: the server's processes' CPU ms per request "
        "at 32 clients)"
    )
    for c in result.checks:
        print(
            f"tight budget, {c.variant}: budget {c.budget}, accepted {c.accepted} "
            f"(max {c.budget // CREDITS_PER_CREATE}), held+spent {c.held_plus_spent}, "
            f"available {c.available}, creates upstream {c.upstream_creates}, "
            f"next create refused with 402: {bool(c.refused)}, other jobs {c.other}, "
            f"audit {'passed' if c.audit_ok else 'FAILED ' + c.audit_output}: "
            f"{'no overspend' if c.ok else 'OVERSPEND OR MISMATCH'}"
        )


def as_json(results: list[ConfigResult]) -> Any:
    return [
        {
            "config": r.label,
            "variants": {
                v.name: {
                    "one": [vars(x) for x in v.one],
                    "many": [vars(x) | {"rps": x.rps} for x in v.many],
                    "cpu_ms_per_request": v.cpu_ms,
                }
                for v in r.variants
            },
            "checks": [vars(c) | {"ok": c.ok} for c in r.checks],
        }
        for r in results
    ]


if __name__ == "__main__":
    sys.exit(main())

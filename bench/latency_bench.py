"""Throughput at Magic Hour's real latency, side by side in one run (issue 17).

    python bench/latency_bench.py [--clients 64,256] [--seconds 20] [--warmup 5] [--rounds 2]
                                  [--create-latency 0.3] [--get-latency 0.1]
                                  [--serve-args "--workers 2 --threads 8"]
                                  [--postgres-url URL | --no-postgres] [--commit REV]

Starts `ledger simulator` answering every create after ``--create-latency`` and every project GET
after ``--get-latency`` (wall seconds), with renders of about 3 s, and then, for each number of
clients: direct to the simulator, the bare pass-through (bench/passthrough_app.py) with the same
server settings as ledger, once with its one shared ``httpx.Client`` (issue 17's pass-through) and
once with a client per thread ("lean", the way ledger's own upstream client holds connections, so
that ledger is also compared with a pass-through that does not pay for a contended pool), `ledger
serve` on a fresh SQLite file and on a fresh PostgreSQL
database, all with `ledger serve`'s defaults unless ``--serve-args`` says otherwise. The load is
bench/mixload.py: every client does what the official SDK's ``generate()`` does (create, then
poll the project every 0.5 s until it is done), plus two clients reading the ledger API every
0.25 s (ledger only). Reported: requests/s, p50/p99 of creates and polls, errors, the RSS of each
server worker (the largest seen during the run) and, from two short runs of one kind of call
each, the servers' CPU per create and per project GET (for PostgreSQL, its server processes'
too: on these shared cores their CPU is the proxy's loss). The variants take turns, ``--rounds``
times over (the machine's other work moves throughput by a third from minute to minute), and
each target is judged by the median of its rounds' ratios.

Targets (issue 17): at 64 clients >= 0.9x direct's requests/s, p99 <= 1.5x direct's, no errors;
at 256 clients >= 0.8x the pass-through's, no errors; RSS per worker <= 150 MB. At 256 clients
the ratio to the lean pass-through is judged against 0.8 too.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy_bench import (
    PASSTHROUGH,
    BenchError,
    Server,
    create_team,
    database_cpu_seconds,
    free_port,
    fresh_databases,
    group_cpu_seconds,
    machine_line,
    reset_simulator,
    start_bench_app,
    start_server,
    use_code,
)
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
MIXLOAD = HERE / "mixload.py"
BUDGET = 10**13
API_CLIENTS = 2
CPU_CLIENTS = 32
CPU_SECONDS = 8.0
TARGET_DIRECT = 0.9
TARGET_DIRECT_P99 = 1.5
TARGET_PASS = 0.8
TARGET_RSS_MB = 150.0
LEAN = "lean pass-through"


@dataclass
class Variant:
    name: str
    url: str
    key: str
    group: int | None = None  # the server's process group: CPU and RSS
    api_key: str = ""
    runs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # clients -> per round
    rss_mb: dict[int, float] = field(default_factory=dict)  # clients -> largest worker RSS
    cpu_ms: dict[str, float] = field(default_factory=dict)  # create / poll -> CPU ms per call
    database: str | None = None  # a PostgreSQL database's name: its server processes' CPU too
    database_cpu_ms: dict[str, float] = field(default_factory=dict)


def start_simulator(stack: ExitStack, workdir: Path, args: argparse.Namespace) -> Server:
    port = free_port()
    argv = [
        *(sys.executable, "-m", "ledger", "simulator", "--port", str(port)),
        *("--workers", "2", "--threads", "256", "--start-credits", str(10**15)),
        *("--create-latency", str(args.create_latency), "--get-latency", str(args.get_latency)),
        *("--queue-seconds", "0.5", "--render-base-seconds", "1", "--jitter", "0.2"),
    ]
    return start_server(
        stack, "simulator", argv, "/_simulator/healthz", port, env={}, workdir=workdir
    )


def mixload(variant: Variant, clients: int, seconds: float, warmup: float, *extra: str) -> Any:
    argv = [sys.executable, str(MIXLOAD), "--url", variant.url, "--key", variant.key]
    argv += ["--clients", str(clients), "--seconds", str(seconds), "--warmup", str(warmup), *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + warmup + 120)
    if done.returncode != 0:
        raise BenchError(f"mixload failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def worker_rss_mb(group: int) -> list[float]:
    """RSS of a server's web workers: its processes but the master and `ledger worker`."""
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == group:
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if int(fields[2]) != group or b"worker" in command[-3:]:
            continue
        rss = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        sizes.append(int(rss.split()[1]) / 1024)
    return sizes


def measure(variant: Variant, clients: int, simulator_url: str, args: argparse.Namespace) -> None:
    reset_simulator(simulator_url)
    extra = []
    if variant.api_key:
        extra = ["--api-clients", str(API_CLIENTS), "--api-key", variant.api_key]
        extra += ["--api-path", "/api/teams/hot/balance"]
    largest = 0.0
    stopping = threading.Event()

    def sample() -> None:
        nonlocal largest
        while variant.group is not None and not stopping.wait(1.0):
            largest = max([largest, *worker_rss_mb(variant.group)])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = mixload(variant, clients, args.seconds, args.warmup, *extra)
    finally:
        stopping.set()
        sampler.join()
    variant.runs.setdefault(clients, []).append(result)
    if variant.group is not None:
        variant.rss_mb[clients] = max(largest, variant.rss_mb.get(clients, 0.0))
    kinds = result["kinds"]
    print(f"  {variant.name:<18} {clients:>4} clients: {summary(kinds)}", flush=True)


def measure_cpu(variant: Variant, simulator_url: str) -> None:
    """Server CPU per call of one kind, from a short run of that kind alone."""
    if variant.group is None:
        return
    for kind in ("create", "poll"):
        reset_simulator(simulator_url)
        before = group_cpu_seconds(variant.group), database_cpu_seconds(variant.database)
        result = mixload(variant, CPU_CLIENTS, CPU_SECONDS, 0.0, "--only", kind)
        used = group_cpu_seconds(variant.group) - before[0]
        used_by_database = database_cpu_seconds(variant.database) - before[1]
        calls = max(result["kinds"].get(kind, {}).get("requests", 0), 1)
        variant.cpu_ms[kind] = used / calls * 1e3
        if variant.database:
            variant.database_cpu_ms[kind] = used_by_database / calls * 1e3
    in_database = ""
    if variant.database_cpu_ms:
        in_database = (
            f"; PostgreSQL's server processes {variant.database_cpu_ms['create']:.2f} ms and "
            f"{variant.database_cpu_ms['poll']:.2f} ms"
        )
    print(
        f"  {variant.name:<18} CPU per create {variant.cpu_ms['create']:.2f} ms, "
        f"per project GET {variant.cpu_ms['poll']:.2f} ms{in_database}",
        flush=True,
    )


def total(
    kinds: dict[str, Any], attribute: str, names: tuple[str, ...] = ("create", "poll")
) -> float:
    return sum(kinds.get(name, {}).get(attribute, 0) for name in names)


def errors(kinds: dict[str, Any]) -> int:
    return int(sum(total(kinds, a, tuple(kinds)) for a in ("non2xx", "socket_errors", "timeouts")))


def summary(kinds: dict[str, Any]) -> str:
    parts = [f"{total(kinds, 'rps'):.0f} req/s"]
    for name in ("create", "poll", "api"):
        if name in kinds:
            kind = kinds[name]
            parts.append(
                f"{name} {kind['rps']:.0f}/s p50 {fmt(kind['p50_ms'])} p99 {fmt(kind['p99_ms'])}"
            )
    return ", ".join(parts) + f", errors {errors(kinds)}"


def fmt(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.0f}"


def start_ledger(
    stack: ExitStack,
    kind: str,
    database_url: str,
    simulator_url: str,
    args: argparse.Namespace,
    workdir: Path,
) -> Variant:
    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_UPSTREAM_URL": simulator_url,
        "LEDGER_STATE_DIR": str(workdir / f"var-{kind}"),
        "MAGIC_HOUR_API_KEY": "bench-upstream-token",
        "LEDGER_ADMIN_TOKEN": "bench-admin-token",
    }
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "ledger",
        "serve",
        "--port",
        str(port),
        *shlex.split(args.serve_args),
    ]
    server = start_server(stack, f"ledger-{kind}", argv, "/readyz", port, env=env, workdir=workdir)
    key = create_team(env, workdir, "hot", BUDGET)
    variant = Variant(f"ledger {kind}", server.url, key, server.process.pid, "bench-admin-token")
    if database_url.startswith("postgresql"):
        variant.database = make_url(database_url).database
    return variant


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="64,256")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--rounds", type=int, default=2, help="every variant, in turn, this many times"
    )
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--create-latency", type=float, default=0.3)
    parser.add_argument("--get-latency", type=float, default=0.1)
    parser.add_argument("--serve-args", default="", help="e.g. '--workers 2 --threads 64'")
    parser.add_argument(
        "--passthrough-args", default=None, help="defaults to ledger serve's settings"
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--no-postgres", dest="postgres_url", action="store_const", const=None)
    parser.add_argument("--commit", help="run ledger/ of this commit (a git archive snapshot)")
    args = parser.parse_args()
    args.floor = False
    clients = [int(n) for n in args.clients.split(",")]

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="latency-bench-") as tmp:
        workdir = Path(tmp)
        print(use_code(args.commit, workdir))
        print(machine_line())
        workers, threads = serve_settings(args.serve_args)
        passthrough_args = args.passthrough_args or f"--workers {workers} --threads {threads}"
        print(
            f"upstream latency: create {args.create_latency} s, project GET {args.get_latency} s; "
            f"ledger serve {args.serve_args or '(defaults)'} = {workers}x{threads}; "
            f"pass-through {passthrough_args}",
            flush=True,
        )
        simulator = start_simulator(stack, workdir, args)
        passthrough = start_bench_app(
            stack,
            PASSTHROUGH,
            "passthrough",
            ["--upstream", simulator.url, *shlex.split(passthrough_args)],
            workdir,
        )
        variants = [
            Variant("direct", simulator.url, "bench-token"),
            Variant("pass-through", passthrough.url, "bench-token", passthrough.process.pid),
        ]
        lean = start_bench_app(
            stack,
            PASSTHROUGH,
            "passthrough-lean",
            ["--upstream", simulator.url, *shlex.split(passthrough_args), "--client-per-thread"],
            workdir,
        )
        variants.append(Variant(LEAN, lean.url, "bench-token", lean.process.pid))
        for kind, database_url in fresh_databases(stack, "latency", "bench", workdir, args):
            variants.append(start_ledger(stack, kind, database_url, simulator.url, args, workdir))
        for round_ in range(1, args.rounds + 1):
            for count in clients:
                print(f"\n== round {round_}, {count} clients ==", flush=True)
                for variant in variants:
                    measure(variant, count, simulator.url, args)
        print("\n== CPU per call (32 clients, one kind of call at a time) ==", flush=True)
        for variant in variants:
            measure_cpu(variant, simulator.url)
        report(variants, clients)
    return 0


def serve_settings(serve_args: str) -> tuple[int, int]:
    """Workers and threads `ledger serve` runs with: its --help defaults unless overridden."""
    helptext = subprocess.run(
        [sys.executable, "-m", "ledger", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    settings = {}
    for name in ("workers", "threads"):
        words = shlex.split(serve_args)
        if f"--{name}" in words:
            settings[name] = int(words[words.index(f"--{name}") + 1])
        else:
            block = helptext.split(f"--{name}", 1)[1]
            settings[name] = int(block.split("default:", 1)[1].split("]")[0].split(";")[0].strip())
    return settings["workers"], settings["threads"]


def report(variants: list[Variant], clients: list[int]) -> None:
    """One row per round, then each target judged by the median of its rounds' ratios (each
    ratio between runs of one round, side by side)."""
    print(
        "\n| clients | round | variant | req/s | x direct | x pass-through | x lean | "
        "create p50/p99 ms | poll p50/p99 ms | errors | worker RSS MB |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---|---|---:|---:|")
    by_name = {v.name: v for v in variants}
    for count in clients:
        for round_, (direct_run, passing_run, lean_run) in enumerate(
            zip(
                by_name["direct"].runs[count],
                by_name["pass-through"].runs[count],
                by_name[LEAN].runs[count],
                strict=True,
            )
        ):
            direct, passing = total(direct_run["kinds"], "rps"), total(passing_run["kinds"], "rps")
            leanest = total(lean_run["kinds"], "rps")
            for variant in variants:
                kinds = variant.runs[count][round_]["kinds"]
                rps = total(kinds, "rps")
                create, poll = kinds.get("create", {}), kinds.get("poll", {})
                print(
                    f"| {count} | {round_ + 1} | {variant.name} | {rps:,.0f} | {rps / direct:.2f} "
                    f"| {rps / passing:.2f} | {rps / leanest:.2f} | "
                    f"{fmt(create.get('p50_ms'))} / {fmt(create.get('p99_ms'))} | "
                    f"{fmt(poll.get('p50_ms'))} / {fmt(poll.get('p99_ms'))} | {errors(kinds)} | "
                    f"{variant.rss_mb.get(count, 0):.0f} |"
                )
    print(
        "\n| variant | CPU ms per create | CPU ms per project GET "
        "| PostgreSQL's CPU ms per create / per project GET |"
    )
    print("|---|---:|---:|---:|")
    for variant in variants:
        if variant.cpu_ms:
            used = variant.database_cpu_ms
            in_database = f"{used['create']:.2f} / {used['poll']:.2f}" if used else "-"
            print(
                f"| {variant.name} | {variant.cpu_ms['create']:.2f} "
                f"| {variant.cpu_ms['poll']:.2f} | {in_database} |"
            )
    print()
    for variant in variants:
        if variant.name.startswith("ledger"):
            verdicts(variant, by_name, clients)


def p99_of(kinds: dict[str, Any]) -> float:
    return max(kinds.get(k, {}).get("p99_ms") or 0 for k in ("create", "poll"))


def median_ratio(runs: list[dict[str, Any]], bases: list[dict[str, Any]]) -> tuple[float, str]:
    """The median of the rounds' throughput ratios, and each of them."""
    ratios = [
        total(run["kinds"], "rps") / total(base["kinds"], "rps")
        for run, base in zip(runs, bases, strict=True)
    ]
    return statistics.median(ratios), ", ".join(f"{r:.2f}" for r in ratios)


def verdicts(variant: Variant, by_name: dict[str, Variant], clients: list[int]) -> None:
    for count in clients:
        runs = variant.runs[count]
        failed = sum(errors(run["kinds"]) for run in runs)
        if count <= 64:
            bases = by_name["direct"].runs[count]
            ratio, each = median_ratio(runs, bases)
            p99 = statistics.median(
                p99_of(run["kinds"]) / p99_of(base["kinds"])
                for run, base in zip(runs, bases, strict=True)
            )
            ok = ratio >= TARGET_DIRECT and p99 <= TARGET_DIRECT_P99 and not failed
            print(
                f"{variant.name}, {count} clients: {ratio:.2f}x direct ({each}; >= "
                f"{TARGET_DIRECT}), p99 {p99:.2f}x direct's (<= {TARGET_DIRECT_P99}), "
                f"errors {failed}: {'met' if ok else 'MISSED'}"
            )
            continue
        for base_name in ("pass-through", LEAN):
            ratio, each = median_ratio(runs, by_name[base_name].runs[count])
            ok = ratio >= TARGET_PASS and not failed
            print(
                f"{variant.name}, {count} clients: {ratio:.2f}x {base_name} ({each}; >= "
                f"{TARGET_PASS}), errors {failed}: {'met' if ok else 'MISSED'}"
            )
    rss = max(variant.rss_mb.values(), default=0.0)
    print(
        f"{variant.name}: largest worker RSS {rss:.0f} MB (<= {TARGET_RSS_MB:.0f}): "
        + ("met" if rss <= TARGET_RSS_MB else "MISSED")
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"latency_bench: {exc}", file=sys.stderr)
        sys.exit(1)

"""The floor for this stack: Flask + httpx forwarding calls, no ledger (bench/proxy_bench.py).

``POST /v1/<tool>`` and ``GET /v1/<collection>/<id>`` are sent to the upstream with one shared,
pooled ``httpx.Client`` and upstream's status, body and content type are returned as they are.
Served by gunicorn with the same worker class and settings as ``ledger serve``:

    python bench/passthrough_app.py --port P --upstream http://127.0.0.1:S --workers 2 --threads 8
                                    [--client-per-thread]

``--client-per-thread`` gives each thread an ``httpx.Client`` of its own instead (a pool of one
connection, never contended), as ledger's own upstream client does: the shared pool searches
all its connections on every call, which with hundreds of threads costs more than the call.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any

import httpx
from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication


def upstream_client(upstream_url: str, token: str) -> httpx.Client:
    """One shared, pooled client for the upstream (bench/floor_app.py uses it too)."""
    return httpx.Client(
        base_url=upstream_url.rstrip("/"),
        headers={"accept": "application/json", "authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(60.0, connect=5.0, pool=5.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )


def forward(client: httpx.Client, tool: str, body: bytes) -> httpx.Response:
    return client.post(f"/v1/{tool}", content=body, headers={"content-type": "application/json"})


def as_response(reply: httpx.Response) -> Response:
    """Upstream's status, body and content type, as they are."""
    content_type = reply.headers.get("content-type", "application/json")
    return Response(reply.content, status=reply.status_code, content_type=content_type)


def bench_app(name: str) -> Flask:
    """A Flask app with the ``/healthz`` the bench waits for."""
    app = Flask(name)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', content_type="application/json")

    return app


def create_app(upstream_url: str, per_thread: bool = False) -> Flask:
    shared = None if per_thread else upstream_client(upstream_url, "passthrough")
    local = threading.local()

    def client() -> httpx.Client:
        if shared is not None:
            return shared
        if not hasattr(local, "client"):
            local.client = upstream_client(upstream_url, "passthrough")
        return local.client  # type: ignore[no-any-return]

    app = bench_app("passthrough")

    @app.post("/v1/<tool>")
    def create(tool: str) -> Response:
        return as_response(forward(client(), tool, request.get_data(cache=False)))

    @app.get("/v1/<collection>/<project_id>")
    def project(collection: str, project_id: str) -> Response:
        return as_response(client().get(f"/v1/{collection}/{project_id}"))

    return app


def server_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    return parser


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, load: Callable[[], Flask], settings: dict[str, Any]) -> None:
        self._load = load
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._load()  # in each worker, after the fork


def serve(load: Callable[[], Flask], args: argparse.Namespace, name: str) -> None:
    """Serve the app ``load`` builds with the same gunicorn settings as `ledger serve`
    (ledger/web/server.py)."""
    settings = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "threads": args.threads,
        "worker_class": "gthread",
        "keepalive": 5,
        "graceful_timeout": 65,
        "timeout": 90,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": name,
    }
    _Gunicorn(load, settings).run()


def main() -> None:
    parser = server_arguments(__doc__.splitlines()[0])
    parser.add_argument("--client-per-thread", action="store_true")
    args = parser.parse_args()
    serve(lambda: create_app(args.upstream, args.client_per_thread), args, "passthrough")


if __name__ == "__main__":
    main()

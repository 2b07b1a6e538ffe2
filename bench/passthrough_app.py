"""The floor for this stack: Flask + httpx forwarding creates, no ledger (bench/proxy_bench.py).

``POST /v1/<tool>`` is sent to the upstream with one shared, pooled ``httpx.Client`` and upstream's
status, body and content type are returned as they are. Served by gunicorn with the same worker
class and settings as ``ledger serve``:

    python bench/passthrough_app.py --port P --upstream http://127.0.0.1:S --workers 2 --threads 8
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication


def create_app(upstream_url: str) -> Flask:
    client = httpx.Client(
        base_url=upstream_url.rstrip("/"),
        headers={"accept": "application/json", "authorization": "Bearer passthrough"},
        timeout=httpx.Timeout(60.0, connect=5.0, pool=5.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )
    app = Flask("passthrough")

    @app.post("/v1/<tool>")
    def create(tool: str) -> Response:
        reply = client.post(
            f"/v1/{tool}",
            content=request.get_data(cache=False),
            headers={"content-type": "application/json"},
        )
        content_type = reply.headers.get("content-type", "application/json")
        return Response(reply.content, status=reply.status_code, content_type=content_type)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', content_type="application/json")

    return app


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, upstream_url: str, settings: dict[str, Any]) -> None:
        self._upstream_url = upstream_url
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self._upstream_url)  # in each worker, after the fork


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    # The same gunicorn settings as `ledger serve` (ledger/web/server.py).
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
        "proc_name": "passthrough",
    }
    _Gunicorn(args.upstream, settings).run()


if __name__ == "__main__":
    main()

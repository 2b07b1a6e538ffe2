"""The simulator's HTTP side: ``create_simulator_app(options)``.

``/v1/...`` speaks the Magic Hour API (reference ``magic-hour-api.md``). ``/_simulator/...`` is
the simulator's own: upload targets, downloads, inspection and control for tests, and
``POST /_simulator/projects`` (a project made outside ledger, by another client of the account,
with its charge and webhooks). Every JSON reply
carries ``content-type: application/json``; errors are Magic Hour's ``{"message": ...}`` (the
official description's error schema, with its fixed messages ``Unauthorized``, ``Not Found`` and
``Payment required``), plus a stable ``code`` of the simulator's own.

Statuses as the official docs give them: 400 for a body of the wrong shape (the message names the
field), 422 for one the service cannot make (a duration the model does not render), 402 when the
account's credits do not cover the create, 401 and 404. No input is answered 500: whatever the
JSON, a create is either refused with a 4xx or made.
"""

from __future__ import annotations

import contextlib
import functools
import json
import mimetypes
import random
import re
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ledger.simulator import catalog, costs
from ledger.simulator.options import Faults, OptionsError, SimulatorOptions
from ledger.simulator.projects import (
    create_response,
    inspection_view,
    iso,
    new_id,
    plan_job,
    project_view,
)
from ledger.simulator.schema import BodyInvalid
from ledger.simulator.store import Job, Store
from ledger.simulator.webhooks import WebhookSender

PROJECT_KINDS = {"video-projects": "video", "image-projects": "image", "audio-projects": "audio"}
# The description lists valid extensions per asset type, and a "gif" group (gif, webp, webm, for
# face swap videos) that is no type of its enum; its `extension` field lists them all, untied to
# a type (and the SDK sends a .gif file as type image). So any listed extension goes with any type.
UPLOAD_TYPES = ("video", "audio", "image")
UPLOAD_EXTENSION_PATTERN = re.compile(r"[a-z0-9]+")
UPLOAD_EXTENSIONS_BY_TYPE = {
    "video": {"mp4", "m4v", "mov", "webm"},
    "gif": {"gif", "webp", "webm"},
    "audio": {
        "mp3",
        "wav",
        "aac",
        "flac",
        "webm",
        "weba",
        "m4a",
        "opus",
        "ogg",
        "oga",
        "aiff",
        "amr",
    },
    "image": {
        "png",
        "jpg",
        "jpeg",
        "jfif",
        "heic",
        "heif",
        "webp",
        "avif",
        "jp2",
        "tiff",
        "tif",
        "bmp",
    },
}
UPLOAD_EXTENSIONS = frozenset().union(*UPLOAD_EXTENSIONS_BY_TYPE.values())
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
OUTPUT_BYTES = b"\x00\x00\x00\x18ftypmp42 simulated Magic Hour output\n"
EXTENSION = "simulator"


@dataclass
class Runtime:
    """What the routes share inside one server process."""

    options: SimulatorOptions
    store: Store
    rng: random.Random
    webhooks: WebhookSender | None
    stopping: threading.Event = field(default_factory=threading.Event)
    _tempdir: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        """Release held requests and stop webhook delivery (the test helper calls this)."""
        self.stopping.set()
        if self.webhooks is not None:
            self.webhooks.stop()
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    headers = extra.pop("headers", None)
    return json_response({"message": message, "code": code, **extra}, status, headers)


def not_found_response() -> Response:
    """Magic Hour's 404: its description fixes the message to ``Not Found``."""
    return error_response(404, "not_found", "Not Found")


def payment_required_response() -> Response:
    """Magic Hour's 402 (since 2026-03, 422 before): message ``Payment required`` as in its
    description; ``insufficient_credits`` is the code its docs give for the case."""
    return error_response(402, "insufficient_credits", "Payment required")


def request_json() -> Any:
    """The request's JSON document, or None when it has none or it is not JSON. Never raises:
    ``json`` gives up on deep nesting with RecursionError, which Flask does not catch."""
    try:
        return json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        return None


def runtime_of(app: Flask) -> Runtime:
    return app.extensions[EXTENSION]


def create_simulator_app(options: SimulatorOptions | None = None) -> Flask:
    """A Flask app that behaves like the Magic Hour API, as ``options`` say.

    With ``options.state_path`` unset, state lives in a private temporary file removed by
    ``runtime_of(app).close()``; set it to share state between server worker processes.
    """
    options = options or SimulatorOptions()
    tempdir = None
    state_path = options.state_path
    if state_path is None:
        tempdir = tempfile.TemporaryDirectory(prefix="ledger-simulator-")
        state_path = Path(tempdir.name) / "simulator.db"
    store = Store(state_path)
    if tempdir is not None or not state_path.exists():
        store.initialize(options.faults)
    webhooks = None
    if options.webhook_url:
        webhooks = WebhookSender(
            options.webhook_url,
            options.webhook_secret or "",
            store,
            timeout=options.webhook_timeout,
            time_scale=options.time_scale,
        )
    runtime = Runtime(options, store, random.Random(options.seed), webhooks, _tempdir=tempdir)

    app = Flask("ledger.simulator")
    app.extensions[EXTENSION] = runtime
    _register_routes(app, runtime)
    if options.create_latency or options.get_latency:
        app.after_request(functools.partial(_answer_after_latency, runtime))
    return app


def _answer_after_latency(runtime: Runtime, response: Response) -> Response:
    """Magic Hour's own latency: every ``/v1/`` answer waits, as a real call would."""
    if request.path.startswith("/v1/"):
        options = runtime.options
        runtime.stopping.wait(
            options.create_latency if request.method == "POST" else options.get_latency
        )
    return response


# -- faults ---------------------------------------------------------------------------------------


def _draw_fault(runtime: Runtime, call: str) -> tuple[str, Faults] | None:
    """Which fault, if any, hits this call. One independent draw per fault, in a fixed order."""
    faults = runtime.store.faults()
    if not faults.applies_to(call):
        return None
    rng = runtime.rng
    for name in ("rate_limit", "error", "drop", "timeout", "slow"):
        rate = getattr(faults, f"{name}_rate")
        if rate and rng.random() < rate:
            return name, faults
    return None


def _refusal(fault: str, faults: Faults) -> Response | None:
    """The response of a fault that refuses the call before it has any effect."""
    if fault == "rate_limit":
        return error_response(
            429,
            "rate_limited",
            "Too many requests (simulated).",
            headers={"Retry-After": str(faults.retry_after)},
        )
    if fault == "error":
        return error_response(faults.error_status, "simulated_error", "Simulated upstream error.")
    return None


def _deliver_late(runtime: Runtime, fault: str, faults: Faults, response: Response) -> Response:
    """Apply a fault that lets the call take effect: drop, hold or delay its response."""
    if fault == "drop":
        sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
        if sock is not None:
            # The caller sees the connection close with no response at all.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return response
    seconds = faults.timeout_seconds if fault == "timeout" else faults.slow_seconds
    runtime.stopping.wait(seconds)
    return response


# -- routes --------------------------------------------------------------------------------------


def _register_routes(app: Flask, runtime: Runtime) -> None:
    options, store = runtime.options, runtime.store

    def base_url() -> str:
        return (options.public_url or request.host_url).rstrip("/")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return not_found_response()
        code = {405: "method_not_allowed"}.get(exc.code or 500, "invalid_request")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("simulator error")
        return error_response(500, "internal_error", "The simulator failed unexpectedly.")

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith("/v1/"):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        # the description fixes the 401 message to "Unauthorized", missing and wrong token alike
        if scheme.lower() != "bearer" or not token.strip():
            store.count("rejected:unauthorized")
            return error_response(401, "unauthorized", "Unauthorized")
        if options.token is not None and token.strip() != options.token:
            store.count("rejected:unauthorized")
            return error_response(401, "unauthorized", "Unauthorized")
        return None

    # -- create ----------------------------------------------------------------------------------

    @app.post("/v1/<endpoint>")
    def create(endpoint: str) -> Response:
        tool = catalog.TOOLS.get(endpoint)
        if tool is None:
            return not_found_response()
        counter = f"POST /v1/{endpoint}"
        drawn = _draw_fault(runtime, "create")
        if drawn is not None and (refusal := _refusal(*drawn)) is not None:
            store.count(counter)
            store.count(f"fault:{drawn[0]}")
            return refusal
        made = make_project(tool, request_json(), counter, drawn)
        if isinstance(made, Response):
            return made
        response = json_response(create_response(made))
        return _deliver_late(runtime, *drawn, response) if drawn else response

    def make_project(
        tool: catalog.Tool, body: Any, counter: str, drawn: tuple[str, Faults] | None = None
    ) -> Job | Response:
        """What a create does once past the faults: validate, plan, charge, schedule webhooks.

        A create the account's credits do not cover (its create-time charge above what the
        account has now) is refused 402 and never made; a free one always goes through."""
        if body is None:
            store.count(counter)
            return error_response(400, "invalid_json", "The body must be a JSON object.")
        try:
            catalog.validate(tool, body, options.tier)
        except BodyInvalid as exc:
            store.count(counter)
            return error_response(exc.status, "invalid_request", str(exc), field=exc.path)
        quote = costs.quote(tool.kind, tool.endpoint, body, options.tier)
        job = plan_job(tool, body, quote, options, runtime.rng, time.time())
        if tool.kind == "face":
            job = replace(job, id=str(uuid.uuid4()))  # the SDK's examples: "uuid-example"
        if drawn is not None:
            job = replace(job, fault=drawn[0])
        if not store.add_job(job, counter, options.start_credits):
            store.count("rejected:insufficient_credits")
            return payment_required_response()
        if drawn is not None:
            store.count(f"fault:{drawn[0]}")
        if runtime.webhooks is not None and tool.kind != "face":
            runtime.webhooks.schedule(job, base_url())
        return job

    # -- projects --------------------------------------------------------------------------------

    def find(kind: str, job_id: str) -> Job | None:
        job = store.job(job_id)
        return job if job is not None and job.kind == kind else None

    def not_found(kind: str, job_id: str) -> Response:
        return not_found_response()

    def guarded(call: str, counter: str, answer: Any) -> Response:
        """Count the call, then answer it subject to the faults of its scope."""
        store.count(counter)
        drawn = _draw_fault(runtime, call)
        if drawn is not None:
            store.count(f"fault:{drawn[0]}")
            if (refusal := _refusal(*drawn)) is not None:
                return refusal
            return _deliver_late(runtime, *drawn, answer())
        return answer()

    @app.get("/v1/<collection>/<job_id>")
    def get_project(collection: str, job_id: str) -> Response:
        kind = "face" if collection == "face-detection" else PROJECT_KINDS.get(collection)
        if kind is None:
            return not_found_response()

        def answer() -> Response:
            job = find(kind, job_id)
            if job is None:
                return not_found(kind, job_id)
            return json_response(project_view(job, time.time(), base_url()))

        return guarded("get", f"GET /v1/{collection}", answer)

    @app.delete("/v1/<collection>/<job_id>")
    def delete_project(collection: str, job_id: str) -> Response:
        kind = PROJECT_KINDS.get(collection)
        if kind is None:
            return not_found_response()

        def answer() -> Response:
            if find(kind, job_id) is None:
                return not_found(kind, job_id)
            store.delete(job_id, time.time())
            return Response(status=204)

        return guarded("other", f"DELETE /v1/{collection}", answer)

    @app.get("/v1/account")
    def account() -> Response:
        def answer() -> Response:
            return json_response(_account_view(options, store.charged(time.time())))

        return guarded("get", "GET /v1/account", answer)

    # -- files -----------------------------------------------------------------------------------

    @app.post("/v1/files/upload-urls")
    def upload_urls() -> Response:
        def answer() -> Response:
            body = request_json()
            if body is None:
                return error_response(400, "invalid_json", "The body must be a JSON object.")
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list) or not items:
                return error_response(
                    400, "invalid_request", "items: must be a non-empty array", field="items"
                )
            replies = []
            expires = iso(time.time() + 3600)
            for index, item in enumerate(items):
                refusal = _upload_item_refusal(item, f"items[{index}]")
                if refusal is not None:
                    return refusal
                kind, extension = item["type"], item["extension"]
                file_path = f"api-assets/{new_id('sim')}/{kind}.{extension}"
                replies.append(
                    {
                        "upload_url": f"{base_url()}/_simulator/uploads/{file_path}"
                        f"?auth-value={new_id('')}",
                        "file_path": file_path,
                        "expires_at": expires,
                    }
                )
            return json_response({"items": replies})

        return guarded("other", "POST /v1/files/upload-urls", answer)

    @app.put("/_simulator/uploads/<path:file_path>")
    def upload(file_path: str) -> Response:
        size = request.content_length or 0
        if size > MAX_UPLOAD_BYTES:
            return error_response(413, "payload_too_large", "Uploads are limited to 64 MiB.")
        data = request.get_data(cache=False)
        store.count("PUT uploads")
        store.count("upload bytes", len(data))
        return Response(status=200)

    @app.get("/_simulator/files/<job_id>/<filename>")
    def download(job_id: str, filename: str) -> Response:
        job = store.job(job_id)
        now = time.time()
        if (
            job is None
            or job.deleted_at is not None
            or project_view(job, now, "")["status"] != ("complete")
        ):
            return error_response(404, "not_found", "No such output.")
        store.count("GET files")
        mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return Response(OUTPUT_BYTES + job.id.encode(), mimetype=mimetype)

    # -- inspection and control ------------------------------------------------------------------

    @app.get("/_simulator/state")
    def state() -> Response:
        now = time.time()
        charged = store.charged(now)
        jobs = store.jobs(limit=-1)
        by_status: dict[str, int] = {}
        for job in jobs:
            status = inspection_view(job, now)["status"]
            by_status[status] = by_status.get(status, 0) + 1
        return json_response(
            {
                "account": {
                    "start_credits": options.start_credits,
                    "credits": options.start_credits - charged,
                    "charged": charged,
                },
                "jobs": {"total": len(jobs), "by_status": by_status},
                "counters": store.counters(),
                "faults": store.faults().to_json(),
                "options": options.to_json(),
            }
        )

    @app.post("/_simulator/projects")
    def create_outside() -> Response:
        """A project made by another client of the account (another key, the web app): created
        as ``POST /v1/<endpoint>`` would (no faults), charged, rendered, with its webhooks."""
        request_body = request_json()
        if not isinstance(request_body, dict):
            return error_response(400, "invalid_json", "The body must be a JSON object.")
        endpoint = request_body.get("endpoint")
        tool = catalog.TOOLS.get(endpoint) if isinstance(endpoint, str) else None
        if tool is None:
            message = f"endpoint: no create endpoint {endpoint!r}"
            return error_response(422, "invalid_request", message, field="endpoint")
        body = request_body.get("body")
        if not isinstance(body, dict):
            return error_response(
                422, "invalid_request", "body: must be an object (a create body)", field="body"
            )
        made = make_project(tool, body, "POST /_simulator/projects")
        if isinstance(made, Response):
            return made
        return json_response(create_response(made))

    @app.get("/_simulator/jobs")
    def jobs() -> Response:
        now = time.time()
        kind = request.args.get("kind")
        status = request.args.get("status")
        views = [inspection_view(job, now) for job in store.jobs(kind=kind, limit=-1)]
        if status:
            views = [view for view in views if view["status"] == status]
        return json_response({"items": views})

    @app.get("/_simulator/jobs/<job_id>")
    def job_detail(job_id: str) -> Response:
        job = store.job(job_id)
        if job is None:
            return error_response(404, "not_found", f"No job {job_id}.")
        return json_response(inspection_view(job, time.time()))

    @app.post("/_simulator/jobs/<job_id>/cancel")
    def cancel(job_id: str) -> Response:
        if store.job(job_id) is None:
            return error_response(404, "not_found", f"No job {job_id}.")
        if not store.cancel(job_id, time.time()):
            return error_response(409, "conflict", f"Job {job_id} has already finished.")
        return json_response(inspection_view(store.job(job_id), time.time()))  # type: ignore[arg-type]

    @app.route("/_simulator/faults", methods=["GET", "PUT", "PATCH"])
    def faults() -> Response:
        if request.method != "GET":
            changes = request_json()
            if not isinstance(changes, dict):
                return error_response(400, "invalid_json", "The body must be a JSON object.")
            base = store.faults() if request.method == "PATCH" else Faults()
            try:
                store.set_faults(base.updated(changes))
            except (OptionsError, TypeError) as exc:
                return error_response(422, "invalid_request", str(exc))
        return json_response(store.faults().to_json())

    @app.post("/_simulator/reset")
    def reset() -> Response:
        store.reset(options.faults)
        return json_response({"reset": True})

    @app.get("/_simulator/healthz")
    def healthz() -> Response:
        return json_response({"ok": True})


def _upload_item_refusal(item: Any, path: str) -> Response | None:
    """Why one ``upload-urls`` item is refused (400), or None: ``type`` one of the enum, and
    ``extension`` matching ``^[a-z0-9]+$`` and one the description lists."""
    if not isinstance(item, dict):
        return error_response(400, "invalid_request", f"{path}: must be an object", field=path)
    kind, extension = item.get("type"), item.get("extension")
    if not isinstance(kind, str) or kind not in UPLOAD_TYPES:
        message = f"{path}.type: must be one of {', '.join(UPLOAD_TYPES)}"
        return error_response(400, "invalid_request", message, field=f"{path}.type")
    if (
        not isinstance(extension, str)
        or not UPLOAD_EXTENSION_PATTERN.fullmatch(extension)
        or extension not in UPLOAD_EXTENSIONS
    ):
        message = (
            f"{path}.extension: must be one of {', '.join(sorted(UPLOAD_EXTENSIONS))}, "
            "lower case, without the dot"
        )
        return error_response(400, "invalid_request", message, field=f"{path}.extension")
    return None


def _account_view(options: SimulatorOptions, charged: int) -> dict[str, Any]:
    subscription = None
    if options.tier != "free":
        subscription = {
            "name": options.tier.title(),
            "status": "active",
            "billing_interval": "month",
            "cancel_at_period_end": False,
            "current_period_end": iso(time.time() + 30 * 86400),
            "price": {"amount": 4900, "currency": "usd"},
            "discount": None,
        }
    return {
        "id": "simulated-account",
        "email": "simulator@example.invalid",
        "credits": options.start_credits - charged,
        "tier": options.tier,
        "subscription": subscription,
    }

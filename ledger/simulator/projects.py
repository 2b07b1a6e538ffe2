"""Projects: how a create call becomes a :class:`Job`, and what the API shows of a job over time.

A job's future is planned when it is created (queue time, render time, outcome, output frame rate,
final cost) and stored with it; its status at any moment is then a pure function of the clock,
which is what lets any worker process answer for any job.
"""

from __future__ import annotations

import base64
import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.simulator.catalog import Tool
from ledger.simulator.costs import Quote, scaled
from ledger.simulator.options import SimulatorOptions
from ledger.simulator.store import Job

TERMINAL = frozenset({"complete", "error", "canceled"})
DOWNLOAD_TTL = timedelta(hours=24)
MAX_RENDER_SECONDS = 7 * 86400  # simulated: a week-long clip still finishes within a week
MAX_SIDE = 8192  # a deprecated width or height past this is ignored, as "no effect" ones are

# Output sizes for a resolution label, landscape (16:9 unless the request says otherwise).
_HEIGHTS = {"360p": 360, "480p": 480, "720p": 720, "1080p": 1080, "2k": 1440, "4k": 2160}


def new_id(prefix: str = "c") -> str:
    """A cuid-looking id, like the SDK's examples (``cuid-example``): 120 random bits."""
    return prefix + base64.b32encode(os.urandom(15)).decode("ascii").lower()


def iso(timestamp: float) -> str:
    timestamp = min(max(timestamp, 0.0), 253402300799.0)  # within datetime's years 1970-9999
    return (
        datetime.fromtimestamp(timestamp, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _side(value: int) -> bool:
    return 0 < value <= MAX_SIDE


def _output_size(body: dict[str, Any], resolution: str = "") -> tuple[int, int]:
    height = _HEIGHTS.get(resolution or body.get("resolution") or "")
    if height is None:
        width, height = body.get("width"), body.get("height")
        if isinstance(width, int) and isinstance(height, int) and _side(width) and _side(height):
            return width, height
        return -1, -1  # "-1 means ignore" (reference §3.1)
    long_side = round(height * 16 / 9)
    aspect = body.get("aspect_ratio") or body.get("orientation")
    if aspect in ("9:16", "portrait"):
        return height, long_side
    if aspect in ("1:1", "square"):
        return height, height
    return long_side, height


def plan_job(
    tool: Tool,
    body: dict[str, Any],
    quote: Quote,
    options: SimulatorOptions,
    rng: random.Random,
    now: float,
) -> Job:
    """Decide everything about a new job: timings, outcome, output frame rate and final cost.

    The create-time charge is ``quote.at_create(options.create_charge)``; the final one is the
    quote settled at the output frame rate (another one of ``drift_fps`` for a drifted render),
    0 after an error. ``price_changes`` scale both, each rounded up.
    """
    stretch = 1 + rng.uniform(-options.jitter, options.jitter)
    length = quote.image_count if tool.kind == "image" else quote.seconds
    queue = options.queue_seconds * stretch * options.time_scale
    simulated = (options.render_base_seconds + options.render_seconds_per_second * length) * stretch
    render = min(simulated, MAX_RENDER_SECONDS) * options.time_scale
    draw = rng.random()
    if draw < options.job_error_rate:
        outcome = "error"
    elif draw < options.job_error_rate + options.cancel_rate and tool.kind != "face":
        # face detection has no canceled status (its GET's enum: queued .. complete, error)
        outcome = "canceled"
    else:
        outcome = "complete"
    final_fps = quote.fps
    # only frame-priced renders (lip-sync, i2v, t2v) are charged for coming out at another rate
    if quote.drift != "none" and rng.random() < options.drift_rate:
        final_fps = rng.choice(options.drift_fps)
    factor = options.price_factor(quote.model)
    estimate = scaled(quote.at_create(options.create_charge), factor)
    settled = scaled(quote.settle(final_fps), factor) if outcome == "complete" else 0
    width, height = _output_size(body, quote.resolution or "") if tool.kind == "video" else (-1, -1)
    end_seconds = float(body.get("end_seconds") or 0.0)
    return Job(
        id=new_id(),
        kind=tool.kind,
        endpoint=tool.endpoint,
        project_type=tool.project_type,
        name=body.get("name") if isinstance(body.get("name"), str) else None,
        created_at=now,
        started_at=now + queue,
        finish_at=now + queue + render,
        outcome=outcome,
        estimate=estimate,
        settled=settled,
        estimate_fps=quote.create_fps(options.create_charge),
        final_fps=final_fps,
        start_seconds=float(body.get("start_seconds") or 0.0),
        end_seconds=end_seconds,
        width=width,
        height=height,
        image_count=quote.image_count,
        output=tool.output_name,
    )


def status_at(job: Job, now: float) -> str:
    if job.canceled_at is not None and now >= job.canceled_at:
        return "canceled"
    if now < job.started_at:
        return "queued"
    if now < job.finish_at:
        return "rendering"
    return job.outcome


def credits_at(job: Job, now: float) -> int:
    """``credits_charged`` as the API shows it at ``now`` (mirrors the store's SQL)."""
    if job.canceled_at is not None and now >= job.canceled_at:
        return 0
    return job.settled if now >= job.finish_at else job.estimate


def create_response(job: Job) -> dict[str, Any]:
    """The create reply: the video, image or audio variant of reference §2.1."""
    reply: dict[str, Any] = {"id": job.id, "credits_charged": job.estimate}
    if job.kind == "video":
        reply["estimated_frame_cost"] = job.estimate
    elif job.kind == "image":
        reply["frame_cost"] = job.estimate
    return reply


def download_names(job: Job) -> list[str]:
    if job.image_count <= 1:
        return [job.output]
    stem, _, ext = job.output.rpartition(".")
    return [f"{stem}-{n}.{ext}" for n in range(1, job.image_count + 1)]


def project_view(job: Job, now: float, base_url: str) -> dict[str, Any]:
    """The project GET body for ``job`` at ``now``: every key the SDK model requires."""
    status = status_at(job, now)
    charged = credits_at(job, now)
    downloads: list[dict[str, str]] = []
    if status == "complete" and job.deleted_at is None:
        expires = iso(job.finish_at + DOWNLOAD_TTL.total_seconds())
        downloads = [
            {"url": f"{base_url}/_simulator/files/{job.id}/{name}", "expires_at": expires}
            for name in download_names(job)
        ]
    error = None
    if status == "error":
        error = {"code": "render_failed", "message": "The render failed; credits were refunded."}
    if job.kind == "face":
        faces = (
            [
                {
                    "path": f"api-assets/{job.id}/0-{n}.png",
                    "url": f"{base_url}/_simulator/files/{job.id}/0-{n}.png",
                }
                for n in range(2)
            ]
            if status == "complete"
            else []
        )
        return {"id": job.id, "status": status, "credits_charged": charged, "faces": faces}
    view: dict[str, Any] = {
        "id": job.id,
        "type": job.project_type,
        "name": job.name,
        "status": status,
        "enabled": job.deleted_at is None,
        "created_at": iso(job.created_at),
        "credits_charged": charged,
        "error": error,
        "downloads": downloads,
    }
    if job.kind == "video":
        view |= {
            "start_seconds": job.start_seconds,
            "end_seconds": job.end_seconds,
            "fps": job.final_fps if status == "complete" else job.estimate_fps,
            "width": job.width,
            "height": job.height,
            "total_frame_cost": charged,
            "download": downloads[0] if downloads else None,
        }
    elif job.kind == "image":
        view |= {"image_count": job.image_count, "total_frame_cost": charged}
    return view


def inspection_view(job: Job, now: float) -> dict[str, Any]:
    """What ``/_simulator/jobs`` tells a test about a job: its truth, including the future."""
    return {
        "id": job.id,
        "kind": job.kind,
        "endpoint": job.endpoint,
        "type": job.project_type,
        "status": status_at(job, now),
        "enabled": job.deleted_at is None,
        "created_at": iso(job.created_at),
        "finishes_at": iso(job.finish_at),
        "planned_outcome": "canceled" if job.canceled_at is not None else job.outcome,
        "estimated_credits": job.estimate,
        "credits_charged": credits_at(job, now),
        "final_credits_charged": 0 if job.canceled_at is not None else job.settled,
        "estimated_fps": job.estimate_fps,
        "final_fps": job.final_fps,
        "fault": job.fault,
        "canceled": job.canceled_at is not None,
        "deleted": job.deleted_at is not None,
    }

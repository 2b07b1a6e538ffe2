"""How a create's hold ends when its outcome is known without a project to settle, and what a
replay of its ``Idempotency-Key`` answers afterwards (CONTRACT §3, §4).

A create Magic Hour refused, or one that never left ledger, releases its hold at once: the
release runs in :meth:`Database.transact` (so a deadlock is simply retried), and if the database
refuses it altogether (down, restarting) :class:`Enders` keeps trying in the background, every
second, for :data:`RETRY_FOR`. Only a truly unknown outcome (no answer after sending) keeps its
hold, as an ``unknown`` job, for reconciliation and the admin.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger import accounting
from ledger.errors import HoldEnded
from ledger.models import Job, JobStatus

if TYPE_CHECKING:
    from ledger.db import Database
    from ledger.proxy import Reply

log = logging.getLogger("ledger.proxy")

RETRY_FOR = 600.0  # seconds: then the sweep's tidying takes over (reserved -> unknown)
RETRY_EVERY = 1.0
# An admin's resolution, or the end of an unknown hold: what a replay answers instead.
RESOLVED_FLAGS = frozenset({"resolved", "released_by_admin", "unknown_expired"})
JSON = {"content-type": "application/json"}


class Enders:
    """Ends holds whose outcome is known; retries the ones the database refused."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: deque[tuple[float, str, int, bytes, bool, bool]] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def end(self, job_id: str, status: int, body: bytes, keep: bool, *, release: bool) -> None:
        """Record the answer given to the caller; release the hold (or mark the job unknown)."""
        try:
            self._end(job_id, status, body, keep, release)
        except SQLAlchemyError:
            log.warning("could not end job %s now; retrying in the background", job_id)
            with self._lock:
                self._pending.append((time.monotonic(), job_id, status, body, keep, release))
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._retry, name="hold-ends", daemon=True
                    )
                    self._thread.start()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _end(self, job_id: str, status: int, body: bytes, keep: bool, release: bool) -> None:
        def work(session: Session) -> None:
            if release:
                # already ended (by a retry of ours that did commit): nothing to do
                with contextlib.suppress(HoldEnded):
                    accounting.release(session, job_id)
            else:
                job = session.get(Job, job_id, with_for_update=accounting.NO_KEY_UPDATE)
                assert job is not None
                if job.status == JobStatus.RESERVED.value:
                    job.status = JobStatus.UNKNOWN.value
            job = session.get_one(Job, job_id)
            job.response_status = status
            if keep:
                job.response_body = body.decode("utf-8", errors="replace")

        self.database.transact(work)

    def _retry(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                item = self._pending.popleft()
            since, job_id, status, body, keep, release = item
            try:
                self._end(job_id, status, body, keep, release)
                log.info("job %s ended after a retry", job_id)
                continue
            except SQLAlchemyError:
                if time.monotonic() - since > RETRY_FOR:
                    log.error("gave up ending job %s; the sweep will find it", job_id)
                    continue
            with self._lock:
                self._pending.append(item)
            time.sleep(RETRY_EVERY)


def replay_of_outcome(job: Job) -> Reply:
    """What a repeat of a request answers when its first answer was not stored (it crashed, or
    the job became ``unknown``), or when an admin resolved it since."""
    from ledger.proxy import Reply

    headers = {**JSON, "x-ledger-job-id": job.id, "idempotent-replayed": "true"}
    if job.flag == "resolved" and job.upstream_id:
        created: dict[str, Any] = {"id": job.upstream_id, "credits_charged": _charged(job)}
        mirror = {"video": "estimated_frame_cost", "image": "frame_cost"}.get(job.kind)
        if mirror:
            created[mirror] = created["credits_charged"]
        return Reply(200, json.dumps(created).encode(), headers, "replayed", job.id)
    if job.flag in RESOLVED_FLAGS:
        return _error(
            job,
            502,
            "upstream_error",
            "this request's outcome was never known and its hold was released "
            f"({job.flag}): nothing was charged. Send it again with a new Idempotency-Key.",
        )
    return _error(
        job,
        504,
        "upstream_unknown",
        "Magic Hour's answer to this request is unknown; its credits stay held until it is "
        f"found or released. Do not retry blindly: job {job.id}",
    )


def _error(job: Job, status: int, code: str, message: str) -> Reply:
    from ledger.proxy import Reply

    headers = {**JSON, "x-ledger-job-id": job.id, "idempotent-replayed": "true"}
    body = {"error": {"code": code, "message": message, "job_id": job.id}}
    return Reply(status, json.dumps(body).encode(), headers, "replayed", job.id)


def _charged(job: Job) -> int:
    return job.charged_credits if job.charged_credits is not None else job.held_credits

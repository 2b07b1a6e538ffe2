"""The webhook inbox: a verified Magic Hour call is kept before it is answered, and processed
after, once per (event, project, status).

Processing an event, in one transaction:

- a project one of ledger's jobs owns: a terminal payload (``complete``, ``error``,
  ``canceled``) settles the job to the payload's ``credits_charged`` (the signature makes it
  Magic Hour's word; no GET of the project), ``*.started`` moves no money; then the event is
  queued for the owning team's relay, if it registered a URL;
- a project no job owns: spend that went around ledger (:mod:`ledger.webhooks.bypass`). An event
  that arrives while one of ledger's creates is still waiting for its answer may be that
  create's: it waits (:data:`IN_FLIGHT_GRACE` at most) for the answer to be recorded first.

Events are drained by the reconciliation scheduler every :data:`DRAIN_SECONDS` (and by
``ledger reconcile --once``), each claimed with a lease so that several instances share the work;
processing is idempotent, so an event whose claimer died is simply processed again.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger import accounting
from ledger.db import Database
from ledger.errors import HoldEnded, InvalidInput
from ledger.models import Job, JobStatus, WebhookEvent, utcnow
from ledger.text import check_stored_text
from ledger.webhooks import bypass, relay

log = logging.getLogger("ledger.webhooks")

TERMINAL_STATUSES = ("complete", "error", "canceled")
DRAIN_SECONDS = 0.25
LEASE = timedelta(minutes=1)
IN_FLIGHT_GRACE = timedelta(minutes=2)
RETRY_AFTER = timedelta(seconds=2)
_EVENT_TYPE = re.compile(r"(video|image|audio)\.[a-z_]{1,24}")
_STATUS = re.compile(r"[\x20-\x7e]{1,16}")  # printable ASCII, as Magic Hour's statuses are


@dataclass(frozen=True)
class Event:
    """What a webhook body says, read once before it is kept."""

    event_type: str
    kind: str  # video | image | audio
    project_id: str
    project_status: str  # '' when the payload has none
    payload: dict[str, Any]

    @property
    def ends(self) -> bool:
        return self.project_status in TERMINAL_STATUSES and not self.event_type.endswith(".started")


def parse(body: bytes) -> Event:
    """The event a (verified) body carries: ``{"type": "<kind>.<event>", "payload": {...}}``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("the webhook body must be JSON") from None
    if not isinstance(document, dict):
        raise InvalidInput("the webhook body must be a JSON object with type and payload")
    event_type, payload = document.get("type"), document.get("payload")
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise InvalidInput("type must be a Magic Hour event such as 'video.completed'")
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be an object (the project)")
    project_id = payload.get("id")
    if not isinstance(project_id, str) or not 0 < len(project_id) <= 128:
        raise InvalidInput("payload.id must name the project")
    # Only the id and the status are kept as text (the body is kept as bytes): each must be
    # something either database can store (no NUL, no lone surrogate), or it is no id at all.
    check_stored_text(project_id, "payload.id", 128)
    status = payload.get("status")
    status = status if isinstance(status, str) and _STATUS.fullmatch(status) else ""
    return Event(event_type, event_type.split(".", 1)[0], project_id, status, payload)


def receive(database: Database, body: bytes, *, now: datetime | None = None) -> tuple[Event, bool]:
    """Keep a verified call; returns the event and whether it was new (not a repeat)."""
    event = parse(body)
    now = now or utcnow()
    values = {
        "event_type": event.event_type,
        "project_id": event.project_id,
        "project_status": event.project_status,
        "body": body,
        "received_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }
    with database.write() as session:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(WebhookEvent).values(**values).on_conflict_do_nothing()
        inserted = session.execute(statement.returning(WebhookEvent.id)).first()
    return event, inserted is not None


@dataclass
class DrainReport:
    processed: int = 0
    settled: int = 0
    bypass: int = 0
    relayed: int = 0
    waiting: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())


def drain(database: Database, *, now: datetime | None = None, batch: int = 100) -> DrainReport:
    """Process the events that are due (see below for how many per transaction)."""
    report = DrainReport()
    now = now or utcnow()
    with database.write() as session:
        due = list(
            session.scalars(
                select(WebhookEvent)
                .where(WebhookEvent.processed_at.is_(None), WebhookEvent.next_attempt_at <= now)
                .order_by(WebhookEvent.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        for event in due:  # a lease: no other instance takes these while we process them
            event.next_attempt_at = now + LEASE
        claimed = [event.id for event in due]
    # SQLite: the claimed events together, one transaction and one commit (its writers take
    # turns, so that is one turn instead of a hundred), each in a savepoint so that one that
    # fails changes nothing of the others. PostgreSQL: one transaction each, so that no team's
    # balance row stays locked while other teams' events are processed.
    size = len(claimed) if database.is_sqlite else 1
    for start in range(0, len(claimed), max(size, 1)):
        _process_together(database, claimed[start : start + size], report)
    return report


def _process_together(database: Database, event_ids: list[int], report: DrainReport) -> None:
    failed: list[int] = []
    outcomes: list[tuple[str, int]] = []
    try:
        with database.write() as session:
            for event_id in event_ids:
                try:
                    with session.begin_nested():
                        outcomes.append(process(session, event_id))
                except SQLAlchemyError:
                    log.exception("webhook event %s could not be processed; will retry", event_id)
                    failed.append(event_id)
    except SQLAlchemyError:
        log.exception("webhook events %s could not be processed; will retry", event_ids)
        failed, outcomes = list(event_ids), []
    for event_id in failed:
        report.failed += 1
        _retry_later(database, event_id)
    for outcome, queued in outcomes:
        report.processed += outcome != "waiting"
        report.settled += outcome == "settled"
        report.bypass += outcome == "bypass"
        report.waiting += outcome == "waiting"
        report.relayed += queued


def process(session: Session, event_id: int, *, now: datetime | None = None) -> tuple[str, int]:
    """Process one kept event; returns its outcome and how many relay deliveries it queued."""
    now = now or utcnow()
    row = session.get(WebhookEvent, event_id, with_for_update=True, populate_existing=True)
    if row is None or row.processed_at is not None:
        return "already_processed", 0
    event = parse(row.body)
    job = session.scalar(
        select(Job).where(Job.upstream_id == event.project_id, Job.kind == event.kind)
    )
    queued = 0
    if job is None:
        if _may_be_in_flight(session, row.received_at, now):
            row.attempts += 1
            row.next_attempt_at = now + RETRY_AFTER
            return "waiting", 0
        outcome = bypass.record(session, event, now)
    else:
        outcome = _settle(session, job, event)
        queued = relay.enqueue(session, job.team_id, row, now)
    row.processed_at, row.outcome = now, outcome
    row.job_id = job.id if job is not None else None
    return outcome, queued


def _settle(session: Session, job: Job, event: Event) -> str:
    if not event.ends:
        return "not_ended"  # *.started, or a payload still rendering: no money moves
    charged = event.payload.get("credits_charged")
    if isinstance(charged, bool) or not isinstance(charged, int) or charged < 0:
        log.error("terminal event for job %s has no usable credits_charged", job.id)
        return "unreadable"
    try:
        accounting.settle(session, job.id, charged)
    except HoldEnded:
        return "already_ended"
    return "settled"


def _may_be_in_flight(session: Session, received_at: datetime, now: datetime) -> bool:
    """Is a create of ours, started before the event came, still waiting for its answer?"""
    if now - received_at > IN_FLIGHT_GRACE:
        return False
    pending = exists().where(
        Job.status == JobStatus.RESERVED.value,
        Job.upstream_id.is_(None),
        Job.created_at <= received_at,
        Job.created_at >= received_at - IN_FLIGHT_GRACE,
    )
    return bool(session.scalar(select(pending)))


def _retry_later(database: Database, event_id: int) -> None:
    try:
        with database.write() as session:
            row = session.get(WebhookEvent, event_id)
            if row is not None and row.processed_at is None:
                row.attempts += 1
                row.next_attempt_at = utcnow() + min(RETRY_AFTER * 2**row.attempts, LEASE)
    except SQLAlchemyError:
        pass  # the lease runs out and the event is taken again

"""The budget-guarded proxy: what happens to a Magic Hour call that comes through ``ledger``.

A create call is validated and estimated, its hold is committed, and only then is it forwarded;
what upstream answers decides what happens to the hold (CONTRACT §3):

=========================  ================================  ==========================
upstream                    the hold                          the caller gets
=========================  ================================  ==========================
2xx                         moved to ``credits_charged``;     upstream's status and body
                            job ``submitted``
402 (account out of         released; the admins alerted      503
credits)                    once per episode                  ``upstream_credits_exhausted``
other error status          released                          upstream's status and body
no answer after sending     kept; job ``unknown``             504 ``upstream_unknown``
not reachable (not sent)    released                          502 ``upstream_error``
=========================  ================================  ==========================

Nothing here knows about Flask: the web layer parses the HTTP request, calls one method, and
turns the :class:`Reply` (or a :class:`~ledger.errors.LedgerError`) into a response. What a call
brings is checked by :mod:`ledger.proxy_input`; how a refused call's hold ends is
:mod:`ledger.proxy_ends`.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast
from urllib.parse import quote

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ledger import accounting, face_detection, project_owner, teams
from ledger.db import Database
from ledger.errors import (
    Conflict,
    HoldEnded,
    InvalidInput,
    LedgerError,
    NotFound,
    NotProxied,
    Unauthorized,
    UpstreamCreditsExhausted,
    UpstreamError,
    UpstreamOutcomeUnknown,
)
from ledger.models import Job, JobStatus, Team, utcnow
from ledger.pricing import Estimate
from ledger.pricing.pricer import Pricer
from ledger.proxy_ends import RESOLVED_FLAGS, Enders
from ledger.proxy_ends import replay_of_outcome as _replay_of_outcome
from ledger.proxy_input import (
    bearer,
    check_idempotency_key,
    hash_of_request,
    identified,
    parse_json_object,
    parse_tags,
)
from ledger.telemetry import UPSTREAM_ERRORS
from ledger.upstream import Upstream, UpstreamReply, UpstreamUnknown, UpstreamUnreachable
from ledger.upstream_credits import CreditWatch, upstream_message

log = logging.getLogger("ledger.proxy")

TERMINAL_STATUSES = ("complete", "error", "canceled")
PROJECT_KINDS = ("video", "image", "audio")
JSON = {"content-type": "application/json"}


Caller = teams.KeyIdentity  # an authenticated team key


@dataclass
class Reply:
    """What to answer, plus what the access log and metrics want to know."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "forwarded"
    job_id: str | None = None
    estimate: int | None = None
    caller: Caller | None = None

    @classmethod
    def of_json(cls, status: int, document: Any, **extra: Any) -> Reply:
        return cls(status, json.dumps(document).encode(), dict(JSON), **extra)


# Built once: it runs after every accepted create.
_jobs = cast(Table, Job.__table__)
_RECORD_SUBMITTED = (
    update(_jobs)
    .where(
        _jobs.c.id == bindparam("job_id"),
        or_(_jobs.c.status == JobStatus.RESERVED.value, _jobs.c.status == JobStatus.UNKNOWN.value),
    )
    .values(
        upstream_id=bindparam("upstream_id"),
        status=bindparam("status"),
        submitted_at=bindparam("submitted_at"),
        response_status=bindparam("response_status"),
        response_body=bindparam("response_body"),
    )
)


class Proxy:
    def __init__(self, database: Database, upstream: Upstream, pricing: Pricer) -> None:
        self.database = database
        self.upstream = upstream
        self.pricing = pricing
        self.enders = Enders(database)
        self.credit_watch = CreditWatch(database)

    # -- who is calling -----------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller's team key from ``Authorization: Bearer <key>``, or :class:`Unauthorized`."""
        secret = bearer(authorization)
        with self.database.read() as session:
            return identified(teams.identify(session, secret))

    # -- creates ------------------------------------------------------------------------------

    def create(
        self,
        authorization: str | None,
        endpoint: str,
        raw_body: bytes,
        *,
        idempotency_key: str | None = None,
        tags_header: str | None = None,
        dry_run: bool = False,
    ) -> Reply:
        """Authenticate, estimate, reserve, forward and record one create call.

        The key is checked inside the transaction that takes the hold (one transaction for
        both, on the hot path); a stranger still hears 401 before anything about the body.
        """
        secret = bearer(authorization)
        try:
            kind = self.pricing.kind_of(endpoint)
            if kind is None:
                raise NotProxied(f"/v1/{endpoint} is not a create endpoint that ledger prices")
            body = parse_json_object(raw_body)
            estimate = self.pricing.estimate(endpoint, body)
            tags = parse_tags(tags_header)
            idempotency_key = check_idempotency_key(idempotency_key)
        except LedgerError:
            self.authenticate(authorization)
            raise
        if dry_run:
            return self._dry_run(self.authenticate(authorization), estimate)

        request_hash = hash_of_request(endpoint, body) if idempotency_key else None
        if idempotency_key and request_hash:
            replay = self._replay(self.authenticate(authorization), idempotency_key, request_hash)
            if replay is not None:
                return replay
        key_hash = teams.hash_of_presented(secret)
        if key_hash is None:
            raise Unauthorized("unknown or revoked team key")
        try:
            hold = accounting.hold_for_key(
                self.database,
                key_hash,
                estimate.credits,
                endpoint=endpoint,
                kind=estimate.kind,
                model=estimate.model,
                tags=tags,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                clip_seconds=estimate.seconds,  # for reconciliation's first poll
                priced={
                    "resolution": estimate.resolution,
                    "audio": estimate.audio,
                    "basis": estimate.basis,
                    "table_credits": estimate.from_table,
                },
            )
        except IntegrityError:
            # Another request with the same Idempotency-Key won the race to reserve.
            if idempotency_key and request_hash:
                caller = self.authenticate(authorization)
                replay = self._replay(caller, idempotency_key, request_hash)
                if replay is not None:
                    return replay
            raise
        if hold is None:
            raise Unauthorized("unknown or revoked team key")
        return self._forward_create(hold, endpoint, raw_body, estimate, idempotency_key)

    def _forward_create(
        self,
        hold: accounting.Hold,
        endpoint: str,
        raw_body: bytes,
        estimate: Estimate,
        idempotency_key: str | None,
    ) -> Reply:
        job_id, keep = hold.job_id, idempotency_key is not None
        caller = Caller(hold.key_id or "", hold.key_cap, hold.team_id, hold.team_slug)
        sent_at = utcnow()
        try:
            reply = self.upstream.request("POST", f"/v1/{endpoint}", raw_body)
        except UpstreamUnreachable as exc:
            UPSTREAM_ERRORS.labels("unreachable").inc()
            error = UpstreamError(f"Magic Hour could not be reached ({exc}); nothing was charged")
            self._end_without_answer(job_id, error, keep, release=True)
            error.details.update(team=hold.team_slug, estimated_credits=hold.credits)
            raise error from None
        except UpstreamUnknown as exc:
            UPSTREAM_ERRORS.labels("unknown").inc()
            unknown = UpstreamOutcomeUnknown(
                f"Magic Hour did not answer ({exc}); the job may exist upstream. Its credits stay "
                f"held until it is found or released. Do not retry blindly: job {job_id}"
            )
            self._end_without_answer(job_id, unknown, keep, release=False)
            unknown.details.update(team=hold.team_slug, estimated_credits=hold.credits)
            raise unknown from None

        if reply.status == 402:
            self._credits_exhausted(hold, reply, keep)
        headers = {**reply.headers, "x-ledger-job-id": job_id}
        outcome = "accepted" if reply.ok else "upstream_error"
        if reply.status >= 500:
            UPSTREAM_ERRORS.labels("5xx").inc()
        try:
            if reply.ok:
                held, available = self._record_created(hold, reply, keep)
                headers["x-ledger-reserved-credits"] = str(held)
                headers["x-ledger-available-credits"] = str(available)
            else:  # Magic Hour said no: nothing was charged, the hold ends now
                self.enders.end(job_id, reply.status, reply.body, keep, release=True)
        except SQLAlchemyError:
            # Upstream has answered; the caller gets that answer. The job stays `reserved` with
            # its hold, which reconciliation treats as unknown: nothing is lost.
            log.exception("could not record upstream's answer for job %s", job_id)
            headers["x-ledger-warning"] = "outcome not recorded; the hold stays until reconciled"
        if reply.ok:
            self.credit_watch.accepted(sent_at)
        return Reply(reply.status, reply.body, headers, outcome, job_id, estimate.credits, caller)

    def _credits_exhausted(
        self, hold: accounting.Hold, reply: UpstreamReply, keep: bool
    ) -> NoReturn:
        """Magic Hour said 402: the company's account is out of credits, not the team's budget.
        Release the hold, tell the admins (once per episode), answer in ledger's own shape."""
        message = upstream_message(reply.body)
        error = UpstreamCreditsExhausted(
            "Magic Hour refused this create: the company's Magic Hour account is out of credits "
            f"(Magic Hour said: {message}). Nothing was charged to team {hold.team_slug} and "
            "its hold was released; the admins have been alerted. Try again once the account "
            "is topped up.",
            upstream_status=reply.status,
            upstream_message=message,
            team=hold.team_slug,
            estimated_credits=hold.credits,
            job_id=hold.job_id,
        )
        body = {"error": {"code": error.code, "message": error.message, **error.details}}
        self.enders.end(hold.job_id, 503, json.dumps(body).encode(), keep, release=True)
        self.credit_watch.refused(message=message, team=hold.team_slug, job_id=hold.job_id)
        raise error

    def _record_created(
        self, hold: accounting.Hold, reply: UpstreamReply, keep: bool
    ) -> tuple[int, int]:
        """Record upstream's 2xx: its project id, and the hold moved to what it charged.

        Returns the job's hold and the team's available credits after it.
        """
        upstream_id, charged = _created(reply.json())
        if upstream_id is None:
            # Upstream said yes but we cannot tell to what: keep the hold to be safe.
            log.error("upstream 2xx without a usable id for job %s", hold.job_id)
            self._mark(
                hold.job_id, reply, keep, status=JobStatus.UNKNOWN, flag="unreadable_response"
            )
            return hold.credits, hold.available_after
        values: dict[str, Any] = {
            "job_id": hold.job_id,
            "upstream_id": upstream_id,
            "status": JobStatus.SUBMITTED.value,
            "submitted_at": utcnow(),
            "response_status": reply.status,
            "response_body": reply.body.decode("utf-8", errors="replace") if keep else None,
        }
        try:
            # The common case is one statement: the hold already equals the charge.
            self.database.write_together(lambda hot: hot.execute(_RECORD_SUBMITTED, values))
            if charged is None or charged == hold.credits:
                return hold.credits, hold.available_after
            self.database.transact(lambda s: accounting.adjust_hold(s, hold.job_id, charged))
            return charged, hold.available_after - (charged - hold.credits)
        except IntegrityError:
            # The project id is already another job's (upstream reused an id?): flag, keep hold.
            log.error("upstream id %r of job %s belongs to another job", upstream_id, hold.job_id)
            self._mark(
                hold.job_id, reply, keep, status=JobStatus.UNKNOWN, flag="duplicate_upstream_id"
            )
            return hold.credits, hold.available_after

    def _mark(
        self, job_id: str, reply: UpstreamReply, keep: bool, *, status: JobStatus, flag: str
    ) -> None:
        with self.database.write() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(status=status.value, flag=flag)
            )
            _store_reply(session, job_id, reply.status, reply.body, keep)

    def _end_without_answer(
        self, job_id: str, error: UpstreamError | UpstreamOutcomeUnknown, keep: bool, release: bool
    ) -> None:
        status = 502 if release else 504
        body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
        self.enders.end(job_id, status, body, keep, release=release)
        error.details["job_id"] = job_id

    def _dry_run(self, caller: Caller, estimate: Estimate) -> Reply:
        with self.database.read() as session:
            team = session.get(Team, caller.team_id)
            assert team is not None
            available = accounting.balance_of(session, team).available
        caps = [c for c in (caller.max_credits_per_request, team.max_credits_per_request) if c]
        fits = estimate.credits <= available and all(estimate.credits <= c for c in caps)
        return Reply.of_json(
            200,
            {
                "estimated_credits": estimate.credits,
                "available_credits": available,
                "fits": fits,
                "basis": estimate.basis,
                "endpoint": estimate.endpoint,
                "model": estimate.model,
                "resolution": estimate.resolution,
                "audio": estimate.audio,
            },
            outcome="dry_run",
            estimate=estimate.credits,
        )

    def _replay(self, caller: Caller, idempotency_key: str, request_hash: str) -> Reply | None:
        with self.database.read() as session:
            job = session.scalar(
                select(Job).where(
                    Job.team_id == caller.team_id, Job.idempotency_key == idempotency_key
                )
            )
        if job is None:
            return None
        if job.request_hash != request_hash:
            raise InvalidInput("this Idempotency-Key was already used with a different request")
        if job.response_status is None and job.status == JobStatus.RESERVED.value:
            raise Conflict("a request with this Idempotency-Key is still in flight")
        if job.response_status is None or job.flag in RESOLVED_FLAGS:
            return _replay_of_outcome(job)
        headers = {**JSON, "x-ledger-job-id": job.id, "idempotent-replayed": "true"}
        return Reply(
            job.response_status,
            (job.response_body or "").encode(),
            headers,
            "replayed",
            job.id,
            job.estimated_credits,
        )

    # -- projects, uploads, account -----------------------------------------------------------

    def project_of(
        self, authorization: str | None, kind: str, project_id: str
    ) -> project_owner.OwnedProject:
        """The caller's key and its team's job for a project: :class:`Unauthorized` for a key
        that is not live, :class:`NotFound` for a project that is not that team's. One read
        (:mod:`ledger.project_owner`): polls are most of the traffic."""
        owned = project_owner.find(self.database, bearer(authorization), kind, project_id)
        if owned is None:
            self.authenticate(authorization)  # a stranger hears 401; a team, that it is not its
            raise NotFound("no such project")
        return owned

    def project(
        self, owned: project_owner.OwnedProject, method: str, kind: str, project_id: str
    ) -> Reply:
        """GET or DELETE a project the caller's team created (see :meth:`project_of`).

        A terminal status seen here settles the job at once, if its hold is still open.
        """
        reply = self._call(method, f"/v1/{kind}-projects/{quote(project_id, safe='')}")
        if method == "GET" and reply.ok and owned.seen is not None:
            self.settle_from_project(owned.job_id, reply.json(), owned.seen)
        return Reply(reply.status, reply.body, reply.headers, job_id=owned.job_id)

    def settle_from_project(
        self, job_id: str, project: Any, seen: accounting.SeenHold | None = None
    ) -> bool:
        """Settle the job if the project is terminal; True if this call ended the hold. With its
        hold just ``seen`` open, a plain settle reads nothing (:func:`accounting.settle_seen`)."""
        if not isinstance(project, dict) or project.get("status") not in TERMINAL_STATUSES:
            return False
        charged = project.get("credits_charged")
        if isinstance(charged, bool) or not isinstance(charged, int) or charged < 0:
            log.error("terminal project for job %s has no usable credits_charged", job_id)
            return False
        if seen is not None and accounting.settle_seen(self.database, seen, charged):
            return True
        try:
            self.database.transact(lambda session: accounting.settle(session, job_id, charged))
        except HoldEnded:
            return False
        return True

    def upload_urls(self, caller: Caller, raw_body: bytes) -> Reply:
        """Forwarded as is: uploads cost nothing."""
        parse_json_object(raw_body)
        reply = self._call("POST", "/v1/files/upload-urls", raw_body)
        return Reply(reply.status, reply.body, reply.headers)

    def face_detection(self, caller: Caller, raw_body: bytes) -> Reply:
        """Forwarded (free: no hold, no entries); the asking team is recorded, since only it
        may read the result."""
        parse_json_object(raw_body)
        reply = self._call("POST", "/v1/face-detection", raw_body)
        if reply.ok:
            upstream_id, charged = _created(reply.json())
            if upstream_id is None:
                log.error("upstream 2xx to a face detection without a usable id")
            else:
                face_detection.record(self.database, caller, upstream_id, charged)
        return Reply(reply.status, reply.body, reply.headers)

    def face_detection_result(self, caller: Caller, detection_id: str) -> Reply:
        """GET a face detection the caller's team asked for; anything else is an unknown id."""
        if not face_detection.asked_by(self.database, caller, detection_id):
            raise NotFound("no such face detection")
        reply = self._call("GET", f"/v1/face-detection/{quote(detection_id, safe='')}")
        return Reply(reply.status, reply.body, reply.headers)

    def account(self, caller: Caller) -> Reply:
        """Upstream's account, with ``credits`` the caller team's available credits."""
        reply = self._call("GET", "/v1/account")
        document = reply.json()
        if not reply.ok or not isinstance(document, dict):
            return Reply(reply.status, reply.body, reply.headers)
        with self.database.read() as session:
            team = session.get(Team, caller.team_id)
            assert team is not None
            document["credits"] = accounting.balance_of(session, team).available
        return Reply.of_json(reply.status, document)

    def _call(self, method: str, path: str, body: bytes | None = None) -> UpstreamReply:
        try:
            return self.upstream.request(method, path, body)
        except UpstreamUnreachable as exc:
            raise UpstreamError(f"Magic Hour could not be reached ({exc})") from None
        except UpstreamUnknown as exc:
            raise UpstreamOutcomeUnknown(f"Magic Hour did not answer ({exc})") from None


# -- answers -----------------------------------------------------------------------------------


def _created(document: Any) -> tuple[str | None, int | None]:
    """The project id and credits_charged of a create response (None where unusable)."""
    if not isinstance(document, dict):
        return None, None
    upstream_id = document.get("id")
    charged = document.get("credits_charged")
    if not isinstance(upstream_id, str) or not upstream_id or len(upstream_id) > 128:
        return None, None
    if isinstance(charged, bool) or not isinstance(charged, int | float):
        return upstream_id, None
    if not math.isfinite(charged) or charged < 0 or charged != int(charged):
        return upstream_id, None
    return upstream_id, int(charged)


def _store_reply(session: Any, job_id: str, status: int, body: bytes, keep: bool) -> None:
    job = session.get(Job, job_id)
    job.response_status = status
    if keep:
        job.response_body = body.decode("utf-8", errors="replace")

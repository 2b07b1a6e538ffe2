"""Tables, as SQLAlchemy 2 typed models.

Money lives in three places, kept in step by :mod:`ledger.accounting` alone:

* ``entries``: the append-only journal. Each entry moves ``credits`` (> 0) from one of a team's
  accounts to another within one budget period, so every posting balances by construction.
* ``balances``: per team and period, the cached sums of that journal (``budget``,
  ``adjustments``, ``held``, ``spent``); ``available`` is derived from them.
* ``jobs``: one create call each, owning one hold; the hold is open while the job is
  ``reserved``, ``submitted`` or ``unknown``, and ends once, ``settled`` or ``released``.

``spend_rollups`` sums the jobs per team, day, endpoint, model and key for reports; it is derived
from the journal and kept in step in the same transactions.
"""

from __future__ import annotations

import enum
import secrets
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A sortable id chosen by us before any request, so that a retry is recognised."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Period(enum.StrEnum):
    NONE = "none"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class JobStatus(enum.StrEnum):
    RESERVED = "reserved"  # hold committed, request not yet answered by upstream
    SUBMITTED = "submitted"  # upstream accepted it; waiting for the final charge
    UNKNOWN = "unknown"  # sent, but we never learned whether upstream accepted it
    SETTLED = "settled"  # hold ended: charged what upstream charged
    RELEASED = "released"  # hold ended: nothing charged


OPEN_STATUSES = (JobStatus.RESERVED, JobStatus.SUBMITTED, JobStatus.UNKNOWN)


class Account(enum.StrEnum):
    """A team's accounts within one period. ``funding`` is the company's side."""

    FUNDING = "funding"
    AVAILABLE = "available"
    HELD = "held"
    SPENT = "spent"


class EntryKind(enum.StrEnum):
    ALLOCATION = "allocation"  # the period's budget, or a change to it: funding <-> available
    ADJUSTMENT = "adjustment"  # a manual correction with a reason: funding <-> available
    RESERVE = "reserve"  # a new hold: available -> held
    HOLD_INCREASE = "hold_increase"  # upstream charged more at create time: available -> held
    HOLD_DECREASE = "hold_decrease"  # upstream charged less at create time: held -> available
    SETTLE = "settle"  # the charged part of a hold: held -> spent
    RETURN = "return"  # the uncharged rest of a settled hold: held -> available
    OVERRUN = "overrun"  # charged beyond the hold: available -> spent
    RELEASE = "release"  # a hold ended with nothing charged: held -> available


# The kinds that end a hold. These, and the reserve that opens it, happen at most once per job,
# which a unique index enforces whatever the code does.
ENDING_KINDS = (EntryKind.SETTLE, EntryKind.RETURN, EntryKind.OVERRUN, EntryKind.RELEASE)
ONCE_PER_JOB_KINDS = (EntryKind.RESERVE, *ENDING_KINDS)
_ONCE_PER_JOB_SQL = f"kind IN ({', '.join(repr(k.value) for k in ONCE_PER_JOB_KINDS)})"

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum_check(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (
        CheckConstraint("budget_credits >= 0", name="budget_not_negative"),
        CheckConstraint(_enum_check("period", Period), name="period_known"),
        CheckConstraint(
            "max_credits_per_request IS NULL OR max_credits_per_request > 0",
            name="max_per_request_positive",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    budget_credits: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(8))
    max_credits_per_request: Mapped[int | None] = mapped_column(BigInteger)
    alert_thresholds: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "max_credits_per_request IS NULL OR max_credits_per_request > 0",
            name="max_per_request_positive",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the whole key: keys carry 256 random bits, so a fast hash is enough.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    max_credits_per_request: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Balance(Base):
    """Cached sums of the journal for one team and one budget period."""

    __tablename__ = "balances"
    __table_args__ = (
        UniqueConstraint("team_id", "period", "period_start"),
        CheckConstraint(_enum_check("period", Period), name="period_known"),
        CheckConstraint("held >= 0", name="held_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    budget: Mapped[int] = mapped_column(BigInteger, default=0)
    adjustments: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)

    @property
    def available(self) -> int:
        return self.budget + self.adjustments - self.spent - self.held


class Job(Base):
    """One create call through the proxy, and the hold it owns."""

    __tablename__ = "jobs"
    __table_args__ = (
        # Unique where set. Partial, so that a create without an Idempotency-Key (most of them)
        # and a job not yet answered write no entry in these indexes.
        Index(
            "uq_jobs_team_id_idempotency_key",
            "team_id",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index(
            "uq_jobs_upstream_id",
            "upstream_id",
            unique=True,
            sqlite_where=text("upstream_id IS NOT NULL"),
            postgresql_where=text("upstream_id IS NOT NULL"),
        ),
        CheckConstraint(_enum_check("status", JobStatus), name="status_known"),
        CheckConstraint("kind IN ('video', 'image', 'audio')", name="kind_known"),
        CheckConstraint("estimated_credits >= 0", name="estimate_not_negative"),
        CheckConstraint("held_credits >= 0", name="held_not_negative"),
        CheckConstraint(
            "charged_credits IS NULL OR charged_credits >= 0", name="charge_not_negative"
        ),
        # An ended hold holds nothing, and only a settled job has a charge.
        CheckConstraint(
            "(status IN ('settled', 'released')) = (ended_at IS NOT NULL)", name="ended_iff_closed"
        ),
        CheckConstraint(
            "status NOT IN ('settled', 'released') OR held_credits = 0", name="ended_holds_nothing"
        ),
        CheckConstraint(
            "(status = 'settled') = (charged_credits IS NOT NULL)", name="charged_iff_settled"
        ),
        Index("ix_jobs_team_id_created_at", "team_id", "created_at"),
        Index("ix_jobs_status_next_poll_at", "status", "next_poll_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"))
    balance_id: Mapped[int] = mapped_column(ForeignKey("balances.id"))
    endpoint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # video | image | audio: where its project lives
    model: Mapped[str | None] = mapped_column(String(64))  # as priced (Magic Hour's pick if none)
    status: Mapped[str] = mapped_column(String(12))
    upstream_id: Mapped[str | None] = mapped_column(String(128))
    estimated_credits: Mapped[int] = mapped_column(BigInteger)
    held_credits: Mapped[int] = mapped_column(BigInteger)
    charged_credits: Mapped[int | None] = mapped_column(BigInteger)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # What the proxy answered, kept so that a retry with the same Idempotency-Key gets it again.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    flag: Mapped[str | None] = mapped_column(String(32))  # e.g. overrun, unknown_expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Reconciliation: the clip length (to predict when it is done), when to look next (also a
    # lease: a claimed job's next poll is pushed past the time its claimer needs), what we saw.
    clip_seconds: Mapped[float | None] = mapped_column(Float)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    upstream_status: Mapped[str | None] = mapped_column(String(16))
    upstream_charge: Mapped[int | None] = mapped_column(BigInteger)

    # Not a column: set by accounting.reserve on the job it returns.
    __allow_unmapped__ = True
    available_after: int | None = None
    # Credits that went from this job's hold back to available (release, return, hold_decrease),
    # kept so that reports grouped by tag can be summed from this table alone.
    released_credits: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The rest of the pricing key (endpoint, model, resolution, audio), how the estimate was
    # made (table, fallback or learned) and what the table alone said, for learned prices.
    resolution: Mapped[str | None] = mapped_column(String(16))
    audio: Mapped[bool | None] = mapped_column(Boolean)
    basis: Mapped[str | None] = mapped_column(String(8))
    table_credits: Mapped[int | None] = mapped_column(BigInteger)


class SpendRollup(Base):
    """Per team, day of the job's creation (in the billing time zone, :class:`BillingZone`),
    endpoint, model and key: what the jobs created then hold, spent and released. Kept in step
    with the journal by :mod:`ledger.rollups`, inside the accounting core's transactions, so
    that reports need not read every job.

    ``model`` and ``key_id`` are ``''`` for none, so that they can be part of the key.
    """

    __tablename__ = "spend_rollups"
    __table_args__ = (Index("ix_spend_rollups_day", "day"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True, server_default="")
    jobs: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    released: Mapped[int] = mapped_column(BigInteger, default=0)


class Entry(Base):
    """One journal posting: ``credits`` move from ``from_account`` to ``to_account``.

    Rows are only ever inserted. Corrections are new entries.
    """

    __tablename__ = "entries"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("from_account <> to_account", name="accounts_differ"),
        CheckConstraint(_enum_check("from_account", Account), name="from_account_known"),
        CheckConstraint(_enum_check("to_account", Account), name="to_account_known"),
        CheckConstraint(_enum_check("kind", EntryKind), name="kind_known"),
        Index(
            "uq_entries_job_id_once_per_job_kind",
            "job_id",
            "kind",
            unique=True,
            sqlite_where=text(_ONCE_PER_JOB_SQL),
            postgresql_where=text(_ONCE_PER_JOB_SQL),
        ),
        Index("ix_entries_team_id_created_at", "team_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    balance_id: Mapped[int] = mapped_column(ForeignKey("balances.id"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    kind: Mapped[str] = mapped_column(String(16))
    from_account: Mapped[str] = mapped_column(String(12))
    to_account: Mapped[str] = mapped_column(String(12))
    credits: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """Something finance should hear about: an overrun, a budget threshold crossed.

    Written in the same transaction as the movement that caused it (an outbox), delivered later.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_alerts_delivered_at_next_attempt_at", "delivered_at", "next_attempt_at"),
        Index("ix_alerts_team_id_created_at", "team_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None: an alert of the whole account (spend that bypassed ledger), for the admins.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    balance_id: Mapped[int | None] = mapped_column(ForeignKey("balances.id"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    kind: Mapped[str] = mapped_column(String(24))  # overrun, threshold, unknown_expired, bypass
    # One alert per crossing: e.g. "overrun:<job>", "threshold:<balance>:80".
    dedupe_key: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PriceObservation(Base):
    """A charge that says something about a price (:mod:`ledger.pricing.learning`): one above
    the table's estimate, or any charge of a key the table has no published rate for."""

    __tablename__ = "price_observations"
    __table_args__ = (Index("ix_price_observations_observed_at", "observed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(16))
    audio: Mapped[bool | None] = mapped_column(Boolean)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    stage: Mapped[str] = mapped_column(String(8))  # create (the create response) or final
    table_credits: Mapped[int] = mapped_column(BigInteger)
    charged: Mapped[int] = mapped_column(BigInteger)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerBeat(Base):
    """A reconciliation scheduler's heartbeat; ``/readyz`` wants a recent one."""

    __tablename__ = "worker_beats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sweeps: Mapped[int] = mapped_column(BigInteger, default=0)


class AccountSnapshot(Base):
    """Upstream's account balance (``GET /v1/account`` credits) at a moment: the drift check
    compares its fall with what the ledger recorded, to show spend that bypassed the proxy."""

    __tablename__ = "account_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    credits: Mapped[int] = mapped_column(BigInteger)


class WebhookEvent(Base):
    """A verified Magic Hour webhook call, kept before it is answered (an inbox): processed after
    the answer, at most once per (event, project, status) however often Magic Hour repeats it."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("event_type", "project_id", "project_status"),
        Index("ix_webhook_events_processed_at_next_attempt_at", "processed_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32))  # video.completed, image.started, ...
    project_id: Mapped[str] = mapped_column(String(128))
    project_status: Mapped[str] = mapped_column(String(16))  # the payload's status ('' if none)
    body: Mapped[bytes] = mapped_column(LargeBinary)  # exactly as received, for the relay
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)  # also a lease while processed
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(24))  # settled, bypass, started, ...
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))


class BypassProject(Base):
    """A project of the account that no ledger job owns: spend that went around ledger."""

    __tablename__ = "bypass_projects"

    project_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # video | image | audio
    status: Mapped[str] = mapped_column(String(16))
    credits_charged: Mapped[int] = mapped_column(BigInteger)  # the latest seen; final once ended
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamWebhook(Base):
    """Where a team wants its own Magic Hour events relayed. The signing secret is derived from
    ``LEDGER_SECRET_KEY`` and ``secret_nonce``; it is never stored."""

    __tablename__ = "team_webhooks"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str] | None] = mapped_column(JSON)  # None: every event type
    secret_nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayDelivery(Base):
    """One event owed to one team's URL (an outbox): sent at least once, retried with backoff."""

    __tablename__ = "relay_deliveries"
    __table_args__ = (
        UniqueConstraint("team_id", "event_id"),
        Index("ix_relay_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_relay_deliveries_team_id_id", "team_id", "id"),
        # An event's deliveries: what pruning reads and deletes, and PostgreSQL's check that
        # no delivery still refers to an event being deleted.
        Index("ix_relay_deliveries_event_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(12))  # pending, delivered, failed (gave up)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)  # also a lease while sent
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FaceDetection(Base):
    """A face detection asked for through the proxy (free: no job, no hold), and which team asked:
    only that team may read its result."""

    __tablename__ = "face_detections"

    upstream_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"))
    credits_charged: Mapped[int | None] = mapped_column(BigInteger)  # 0 while Magic Hour says free
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditEpisode(Base):
    """A stretch of time in which Magic Hour refused creates because the company's account was
    out of credits (it answered 402): from the first such refusal to the next create it accepted.
    The admins are alerted once per episode."""

    __tablename__ = "credit_episodes"
    __table_args__ = (
        # True while the episode lasts, NULL after (NULLs are distinct): at most one is open.
        UniqueConstraint("open"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    open: Mapped[bool | None] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refusals: Mapped[int] = mapped_column(Integer, default=1)
    last_refusal_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    upstream_message: Mapped[str | None] = mapped_column(Text)  # the first refusal's


class BillingZone(Base):
    """The one row saying in which time zone the rollups' days and the open periods' bounds are
    kept (``LEDGER_BILLING_TIMEZONE`` when it was last adopted: :mod:`ledger.billing_zone`)."""

    __tablename__ = "billing_zone"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    zone: Mapped[str] = mapped_column(String(64))
    adopted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

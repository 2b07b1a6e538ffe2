"""Magic Hour's own account out of credits: a create it refuses with 402 (CONTRACT §3).

That is the company's account, not the team's budget, so the caller hears ledger's own error,
``upstream_credits_exhausted`` (503: see the README for why not 402), with Magic Hour's message
in it; the hold is released as for any refusal. The admins hear of it once per *episode*: from
the first such refusal to the first create Magic Hour accepts that was sent after it began.

An episode is a row of ``credit_episodes``; a unique constraint keeps at most one open, whichever
process or instance saw the refusal, and its alert's dedupe key is the episode's id. Ending one
costs the create path no statement while none is open: each process looks at most every
:data:`LOOK_EVERY` seconds (at once after it saw a refusal itself).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger import alerts
from ledger.db import Database
from ledger.models import CreditEpisode, utcnow
from ledger.telemetry import UPSTREAM_CREDITS_EXHAUSTED

log = logging.getLogger("ledger.proxy")

LOOK_EVERY = 5.0  # seconds between a process's looks for an open episode
ALERT_KIND = "upstream_credits"
MAX_MESSAGE = 500


def upstream_message(body: bytes) -> str:
    """What Magic Hour said, for people: its JSON ``message`` (or ``error``), else the text."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict):
        for name in ("message", "error", "detail"):
            value = document.get(name)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str) and value.strip():
                return value.strip()[:MAX_MESSAGE]
    text = body.decode("utf-8", errors="replace").strip()
    return text[:MAX_MESSAGE] or "(no message)"


def open_or_extend(
    session: Session, *, message: str, team: str, job_id: str, now: datetime
) -> bool:
    """Count one refusal in the open episode, opening one (and recording its alert) if none
    is open. True if this refusal opened it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    opened = session.execute(
        dialect.insert(CreditEpisode)
        .values(
            open=True,
            started_at=now,
            refusals=1,
            last_refusal_at=now,
            upstream_message=message,
        )
        .on_conflict_do_nothing(index_elements=["open"])
    ).rowcount  # type: ignore[attr-defined]
    if not opened:
        session.execute(
            update(CreditEpisode)
            .where(CreditEpisode.open.is_(True))
            .values(refusals=CreditEpisode.refusals + 1, last_refusal_at=now)
        )
        return False
    episode = session.scalar(select(CreditEpisode.id).where(CreditEpisode.open.is_(True)))
    alerts.record(
        session,
        team_id=None,  # the company's account, not one team's
        kind=ALERT_KIND,
        dedupe_key=f"{ALERT_KIND}:{episode}",
        message="Magic Hour refused a create because the company's Magic Hour account is out "
        f"of credits ({message}); every create fails until it is topped up (first seen on a "
        f"create of team {team}, job {job_id})",
        job_id=job_id,
        details={"episode": episode, "upstream_message": message, "team": team},
    )
    return True


def end_open(session: Session, *, sent_at: datetime, now: datetime) -> bool:
    """End the open episode if it began before ``sent_at`` (when an accepted create was sent:
    one sent earlier says nothing of the account since). True if one ended."""
    ended = session.execute(
        update(CreditEpisode)
        .where(CreditEpisode.open.is_(True), CreditEpisode.started_at < sent_at)
        .values(open=None, ended_at=now)
    ).rowcount  # type: ignore[attr-defined]
    return bool(ended)


def episode_open(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(CreditEpisode.open.is_(True)))))


class CreditWatch:
    """One process's part in the episodes: records refusals, ends an episode when a create
    is accepted again. Never fails a create: a database error here is logged and forgotten."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._look_after = 0.0  # monotonic time of the next look; 0: look at the next accept

    def refused(self, *, message: str, team: str, job_id: str) -> None:
        """Magic Hour answered a create with 402 (its hold is already released)."""
        UPSTREAM_CREDITS_EXHAUSTED.inc()
        with self._lock:
            self._look_after = 0.0
        try:
            opened = self.database.transact(
                lambda session: open_or_extend(
                    session, message=message, team=team, job_id=job_id, now=utcnow()
                )
            )
        except SQLAlchemyError:
            log.exception("could not record that Magic Hour's account is out of credits")
            return
        if opened:
            log.error("Magic Hour's account is out of credits: %s", message)

    def accepted(self, sent_at: datetime) -> None:
        """Magic Hour accepted a create sent at ``sent_at``: the open episode, if any, is over."""
        now = time.monotonic()
        with self._lock:
            if now < self._look_after:
                return
            self._look_after = now + LOOK_EVERY
        try:
            with self.database.read() as session:
                if not episode_open(session):
                    return
            ended = self.database.transact(
                lambda session: end_open(session, sent_at=sent_at, now=utcnow())
            )
        except SQLAlchemyError:
            log.exception("could not look for an episode of Magic Hour's account out of credits")
            return
        if ended:
            log.info("Magic Hour accepts creates again: its account has credits")

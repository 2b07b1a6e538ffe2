"""The drift check: did anything spend on the Magic Hour account without going through ledger?

The scheduler records upstream's account balance (``GET /v1/account`` credits) over time. Over a
window between two such snapshots, upstream's spend is how far its balance fell; ledger's is how
much the jobs it forwarded were charged in that time, read from the journal: what upstream had
charged them at each moment (the hold once submitted, the settled charge once ended). The
difference is spend that bypassed the proxy: another key, someone in the web app, or a top-up or
refund upstream did not tell us about (which make it negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import InvalidInput, NotFound
from ledger.models import Account, AccountSnapshot, Entry, Job, utcnow
from ledger.upstream import Upstream, UpstreamUnknown, UpstreamUnreachable


def record_snapshot(database: Database, upstream: Upstream) -> int | None:
    """Read upstream's balance and keep it; None if upstream did not say."""
    try:
        reply = upstream.request("GET", "/v1/account")
    except (UpstreamUnreachable, UpstreamUnknown):
        return None
    document = reply.json()
    credits = document.get("credits") if isinstance(document, dict) else None
    if not reply.ok or isinstance(credits, bool) or not isinstance(credits, int):
        return None
    with database.write() as session:
        session.add(AccountSnapshot(taken_at=utcnow(), credits=credits))
    return credits


@dataclass(frozen=True)
class Drift:
    start: datetime
    end: datetime
    upstream_spent: int
    ledger_spent: int

    @property
    def bypassed(self) -> int:
        return self.upstream_spent - self.ledger_spent

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat().replace("+00:00", "Z"),
            "to": self.end.isoformat().replace("+00:00", "Z"),
            "upstream_spent": self.upstream_spent,
            "ledger_spent": self.ledger_spent,
            "bypassed": self.bypassed,
        }


def drift(session: Session, start: datetime | None, end: datetime | None) -> Drift:
    """Compare spend between the snapshots nearest the window's ends (at or before each)."""
    if start is not None and end is not None and start >= end:
        raise InvalidInput("from must be before to")
    first = _snapshot(session, start, first=True)
    last = _snapshot(session, end, first=False)
    if first is None or last is None or first.taken_at >= last.taken_at:
        raise NotFound("not enough account snapshots in that window yet (one is taken a minute)")
    return Drift(
        start=first.taken_at,
        end=last.taken_at,
        upstream_spent=first.credits - last.credits,
        ledger_spent=_charged_by(session, last.taken_at) - _charged_by(session, first.taken_at),
    )


def _snapshot(session: Session, moment: datetime | None, *, first: bool) -> AccountSnapshot | None:
    query = select(AccountSnapshot)
    if moment is None:
        order = AccountSnapshot.taken_at.asc() if first else AccountSnapshot.taken_at.desc()
        return session.scalars(query.order_by(order).limit(1)).first()
    if first:  # the first snapshot at or after the start
        query = query.where(AccountSnapshot.taken_at >= moment).order_by(AccountSnapshot.taken_at)
    else:  # the last snapshot at or before the end
        query = query.where(AccountSnapshot.taken_at <= moment).order_by(
            AccountSnapshot.taken_at.desc()
        )
    return session.scalars(query.limit(1)).first()


def _charged_by(session: Session, moment: datetime) -> int:
    """What upstream had charged, at ``moment``, for the jobs ledger had submitted by then: their
    holds and settled charges from the journal (credits into held or spent, minus returns)."""
    charged = case(
        (
            and_(
                Entry.from_account == Account.AVAILABLE.value,
                Entry.to_account.in_([Account.HELD.value, Account.SPENT.value]),
            ),
            Entry.credits,
        ),
        (
            and_(
                Entry.from_account == Account.HELD.value,
                Entry.to_account == Account.AVAILABLE.value,
            ),
            -Entry.credits,
        ),
        else_=0,
    )
    total = session.scalar(
        select(func.coalesce(func.sum(charged), 0))
        .join(Job, Job.id == Entry.job_id)
        .where(
            Entry.created_at <= moment,
            Job.upstream_id.is_not(None),
            or_(Job.submitted_at <= moment),
        )
    )
    return int(total or 0)

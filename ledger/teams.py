"""Teams and their keys: create, change, list, revoke, authenticate.

A team's budget lives in the journal (see :mod:`ledger.accounting`); changing it here posts the
difference to the current period at once and leaves earlier periods as they were.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger import accounting
from ledger.errors import Conflict, InvalidInput, NotFound, whole_number
from ledger.models import ApiKey, Period, Team, new_id, utcnow
from ledger.text import check_stored_text

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
KEY_PREFIX = "mhl_"
KEY_RE = re.compile(r"mhl_[A-Za-z0-9_-]{32,}")
DEFAULT_ALERT_THRESHOLDS = [50, 80, 100]
# Far beyond any real budget, far below where 64-bit sums could overflow.
MAX_CREDITS = 10**15
_UNSET: Any = object()


def validate_slug(slug: Any) -> str:
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise InvalidInput(
            "slug must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return slug


def validate_credits(value: Any, what: str, *, minimum: int = 0) -> int:
    """A whole number of credits, from ``minimum`` up to :data:`MAX_CREDITS`."""
    number = whole_number(value)
    if number is None:
        raise InvalidInput(f"{what} must be a whole number of credits")
    value = number
    if value < minimum or value > MAX_CREDITS:
        raise InvalidInput(f"{what} must be between {minimum} and {MAX_CREDITS}")
    return value


def validate_period(value: Any) -> Period:
    try:
        return Period(value)
    except ValueError:
        raise InvalidInput(f"period must be one of {', '.join(p.value for p in Period)}") from None


def _validate_cap(value: Any) -> int | None:
    return None if value is None else validate_credits(value, "max_credits_per_request", minimum=1)


def _validate_thresholds(value: Any) -> list[int]:
    if (
        not isinstance(value, list)
        or len(value) > 20
        or not all(0 < (whole_number(v) or 0) <= 1000 for v in value)
    ):
        raise InvalidInput("alert_thresholds must be a list of percentages between 1 and 1000")
    return sorted({int(v) for v in value})


def _validate_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput("name must be a non-empty string of at most 200 characters")
    return check_stored_text(value.strip(), "name", 200)


def _validate_label(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput("label must be a string of at most 200 characters")
    return check_stored_text(value, "label", 200)


MAX_REASON = 1000


def validate_reason(value: Any) -> str:
    """An adjustment's reason, as the journal will keep it (the API and the CLI check it)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REASON:
        raise InvalidInput(f"reason must be a non-empty string of at most {MAX_REASON} characters")
    return check_stored_text(value, "reason", MAX_REASON)


def create_team(
    session: Session,
    slug: str,
    *,
    budget_credits: int,
    period: str = Period.MONTH,
    name: str | None = None,
    max_credits_per_request: int | None = None,
    alert_thresholds: list[int] | None = None,
    now: datetime | None = None,
) -> Team:
    """Create a team and allocate its budget for the current period."""
    team = Team(
        slug=validate_slug(slug),
        name=_validate_name(name) if name is not None else slug,
        budget_credits=validate_credits(budget_credits, "budget"),
        period=validate_period(period).value,
        max_credits_per_request=_validate_cap(max_credits_per_request),
        alert_thresholds=(
            DEFAULT_ALERT_THRESHOLDS.copy()
            if alert_thresholds is None
            else _validate_thresholds(alert_thresholds)
        ),
    )
    if session.scalar(select(Team.id).where(Team.slug == team.slug)) is not None:
        raise Conflict(f"team {team.slug!r} already exists")
    session.add(team)
    try:
        session.flush()
    except IntegrityError:
        # Another transaction created the slug after our look (PostgreSQL: concurrent creates
        # wait on the unique index, then all but the first fail here). Nothing was written.
        raise Conflict(f"team {team.slug!r} already exists") from None
    accounting.sync_budget(session, team.id, now=now)
    return team


def update_team(
    session: Session,
    slug: str,
    *,
    budget_credits: int = _UNSET,
    period: str = _UNSET,
    name: str = _UNSET,
    max_credits_per_request: int | None = _UNSET,
    alert_thresholds: list[int] = _UNSET,
    now: datetime | None = None,
) -> Team:
    """Change a team. A new budget or period applies to the current period at once."""
    team = get_team(session, slug, lock=True)
    if budget_credits is not _UNSET:
        team.budget_credits = validate_credits(budget_credits, "budget")
    if period is not _UNSET:
        team.period = validate_period(period).value
    if name is not _UNSET:
        team.name = _validate_name(name)
    if max_credits_per_request is not _UNSET:
        team.max_credits_per_request = _validate_cap(max_credits_per_request)
    if alert_thresholds is not _UNSET:
        team.alert_thresholds = _validate_thresholds(alert_thresholds)
    team.updated_at = utcnow()
    session.flush()
    accounting.sync_budget(session, team.id, now=now)
    return team


def get_team(session: Session, slug: str, *, lock: bool = False) -> Team:
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise NotFound(f"no team {slug!r}")  # no team can have such a slug
    query = select(Team).where(Team.slug == slug)
    if lock:  # FOR NO KEY UPDATE: see the lock order in ledger.accounting
        query = query.with_for_update(key_share=True)
    team = session.scalar(query)
    if team is None:
        raise NotFound(f"no team {slug!r}")
    return team


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.slug)))


# -- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown to the user once, never stored


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_of_presented(secret: str | None) -> str | None:
    """The hash to look a presented key up by; None if it cannot be a key at all."""
    return hash_key(secret) if secret and KEY_RE.fullmatch(secret) else None


def create_key(
    session: Session,
    team_slug: str,
    *,
    label: str | None = None,
    max_credits_per_request: int | None = None,
) -> NewKey:
    team = get_team(session, team_slug)
    label = _validate_label(label)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        team_id=team.id,
        label=label,
        prefix=secret[:12],
        key_hash=hash_key(secret),
        max_credits_per_request=_validate_cap(max_credits_per_request),
    )
    session.add(key)
    session.flush()
    return NewKey(key=key, secret=secret)


def list_keys(session: Session, team_slug: str) -> list[ApiKey]:
    team = get_team(session, team_slug)
    query = select(ApiKey).where(ApiKey.team_id == team.id).order_by(ApiKey.created_at, ApiKey.id)
    return list(session.scalars(query))


def revoke_key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id, with_for_update=True)
    if key is None:
        raise NotFound(f"no key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


@dataclass(frozen=True)
class KeyIdentity:
    """Who a live team key speaks for (what the proxy needs, without ORM objects)."""

    id: str  # the key's id
    max_credits_per_request: int | None
    team_id: int
    team_slug: str


def identify(session: Session, secret: str | None) -> KeyIdentity | None:
    """The live key for a presented secret, in one indexed lookup by hash; None if unknown or
    revoked. Cheap enough to run inside the transaction that uses it."""
    key_hash = hash_of_presented(secret)
    if key_hash is None:
        return None
    row = session.execute(_IDENTIFY, {"key_hash": key_hash}).first()
    return None if row is None else KeyIdentity(*row)


_IDENTIFY = (  # built once: it runs on every proxied call
    select(ApiKey.id, ApiKey.max_credits_per_request, Team.id, Team.slug)
    .join(Team, Team.id == ApiKey.team_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


def authenticate(session: Session, secret: str | None) -> tuple[ApiKey, Team] | None:
    """The live key and its team for a presented secret, or None.

    The lookup is by hash, so the time taken does not depend on how much of a guess was right.
    """
    key_hash = hash_of_presented(secret)
    if key_hash is None:
        return None
    row = session.execute(
        select(ApiKey, Team)
        .join(Team, Team.id == ApiKey.team_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else (row[0], row[1])

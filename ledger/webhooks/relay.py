"""The relay: each team's own Magic Hour webhook, fed from the one account-wide endpoint.

A team registers a URL (admin only: a URL is a place ledger will send requests to). Every
verified event of a project the team's job owns is queued for it (:func:`enqueue`, in the
transaction that processes the event) and delivered by :class:`Relay`: the same body, byte for
byte, with Magic Hour's two headers signed with the team's own secret, so the team's existing
handler works unchanged with its new secret. No team ever receives another team's event.

Deliveries are an outbox: at least once, answered 2xx within :data:`DELIVERY_TIMEOUT` or retried
with exponential backoff (1 s, 2 s, 4 s, ... at most :data:`BACKOFF_MAX` apart) for
:data:`GIVE_UP_AFTER`, then marked ``failed``. A team's deliveries go out one at a time in order,
on a thread of their own, so a slow or failing receiver delays only its own team.

The secret is never stored: it is an HMAC of ``LEDGER_SECRET_KEY`` and a random nonce kept with
the registration, shown once when it is made. Without ``LEDGER_SECRET_KEY`` the relay is off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import Conflict, InvalidInput
from ledger.models import RelayDelivery, TeamWebhook, WebhookEvent, utcnow
from ledger.webhooks.signing import signed_headers

DELIVERY_TIMEOUT = 10.0
BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
LEASE = timedelta(seconds=DELIVERY_TIMEOUT + 20)
MAX_URL = 2048
EVENT_TYPES = tuple(
    f"{kind}.{what}"
    for kind in ("video", "image", "audio")
    for what in ("started", "completed", "errored")
)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

log = logging.getLogger("ledger.relay")


# -- registrations -------------------------------------------------------------------------------


def secret_for(secret_key: str, nonce: str) -> str:
    """A team's relay signing secret, from the server's key and the registration's nonce."""
    mac = hmac.new(secret_key.encode(), f"ledger-relay:{nonce}".encode(), hashlib.sha256)
    return "whsec_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def check_url(url: Any) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise InvalidInput(f"url must be an http(s) URL of at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an http(s) URL with a host")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in url):
        raise InvalidInput("url must be printable ASCII (percent-encode the rest)")
    return url


def check_events(events: Any) -> list[str] | None:
    if events is None:
        return None
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidInput(f"events must be a non-empty list of: {', '.join(EVENT_TYPES)}")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(f"unknown event {unknown[0]!r}; events are {', '.join(EVENT_TYPES)}")
    return sorted(set(events), key=EVENT_TYPES.index)


def register(
    session: Session, team_id: int, url: Any, events: Any, secret_key: str | None
) -> tuple[TeamWebhook, str]:
    """Set (or replace) a team's URL; returns it and its new secret (to show once)."""
    if not secret_key:
        raise Conflict(
            "the webhook relay is off: set LEDGER_SECRET_KEY so that ledger can make and keep "
            "each team's signing secret without storing it"
        )
    url, chosen = check_url(url), check_events(events)
    nonce = secrets.token_urlsafe(24)
    hook = session.get(TeamWebhook, team_id)
    if hook is None:
        hook = TeamWebhook(team_id=team_id, url=url, events=chosen, secret_nonce=nonce)
        session.add(hook)
    else:
        hook.url, hook.events, hook.secret_nonce = url, chosen, nonce
        hook.created_at = utcnow()
    session.flush()
    return hook, secret_for(secret_key, nonce)


def unregister(session: Session, team_id: int) -> bool:
    """Stop relaying to the team; its pending deliveries go with the registration."""
    hook = session.get(TeamWebhook, team_id)
    if hook is None:
        return False
    session.execute(
        update(RelayDelivery)
        .where(RelayDelivery.team_id == team_id, RelayDelivery.status == PENDING)
        .values(status=FAILED, last_error="the team's webhook was removed")
    )
    session.delete(hook)
    return True


def view(hook: TeamWebhook) -> dict[str, Any]:
    return {
        "url": hook.url,
        "events": list(hook.events) if hook.events is not None else list(EVENT_TYPES),
        "created_at": hook.created_at.isoformat().replace("+00:00", "Z"),
    }


def enqueue(session: Session, team_id: int, event: WebhookEvent, now: datetime) -> int:
    """Queue ``event`` for the team's URL if it wants it; 1 if queued, else 0."""
    hook = session.get(TeamWebhook, team_id)
    if hook is None or (hook.events is not None and event.event_type not in hook.events):
        return 0
    queued = session.scalar(
        select(RelayDelivery.id).where(
            RelayDelivery.team_id == team_id, RelayDelivery.event_id == event.id
        )
    )
    if queued is not None:
        return 0
    session.add(
        RelayDelivery(
            team_id=team_id,
            event_id=event.id,
            event_type=event.event_type,
            project_id=event.project_id,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return 1


def delivery_view(delivery: RelayDelivery) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")

    return {
        "id": delivery.id,
        "event": delivery.event_type,
        "project_id": delivery.project_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == PENDING else None,
        "delivered_at": iso(delivery.delivered_at),
    }


# -- delivery ------------------------------------------------------------------------------------


@dataclass
class _Due:
    delivery_id: int
    team_id: int
    url: str
    secret: str
    body: bytes


class Relay:
    """Sends what is due, one thread per team at most; :meth:`tick` never waits for a send."""

    def __init__(self, database: Database, secret_key: str, *, threads: int = 8) -> None:
        self.database = database
        self.secret_key = secret_key
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="relay")
        self._busy: set[int] = set()  # teams with a send in progress
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=DELIVERY_TIMEOUT, follow_redirects=False)

    def tick(self, *, now: datetime | None = None) -> int:
        """Claim the due deliveries of teams not already sending; returns how many started."""
        now = now or utcnow()
        with self._lock:
            busy = set(self._busy)
        due = self._claim(now, busy)
        by_team: dict[int, list[_Due]] = {}
        for item in due:
            by_team.setdefault(item.team_id, []).append(item)
        for team_id, items in by_team.items():
            with self._lock:
                self._busy.add(team_id)
            self._pool.submit(self._send_all, team_id, items)
        return len(due)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _claim(self, now: datetime, busy: set[int]) -> list[_Due]:
        with self.database.write() as session:
            query = (
                select(RelayDelivery, TeamWebhook, WebhookEvent.body)
                .join(TeamWebhook, TeamWebhook.team_id == RelayDelivery.team_id)
                .join(WebhookEvent, WebhookEvent.id == RelayDelivery.event_id)
                .where(RelayDelivery.status == PENDING, RelayDelivery.next_attempt_at <= now)
                .order_by(RelayDelivery.id)
                .limit(200)
                .with_for_update(of=RelayDelivery, skip_locked=True)
            )
            if busy:
                query = query.where(RelayDelivery.team_id.not_in(busy))
            due = []
            for delivery, hook, body in session.execute(query):
                delivery.next_attempt_at = now + LEASE  # a lease while we send it
                due.append(
                    _Due(
                        delivery.id,
                        delivery.team_id,
                        hook.url,
                        secret_for(self.secret_key, hook.secret_nonce),
                        body,
                    )
                )
            return due

    def _send_all(self, team_id: int, items: list[_Due]) -> None:
        try:
            for item in items:
                if not self._send(item):
                    break  # in order: the rest of this team's events wait for their turn
        except Exception:  # never let a thread die silently
            log.exception("relay to team %s failed", team_id)
        finally:
            with self._lock:
                self._busy.discard(team_id)

    def _send(self, item: _Due) -> bool:
        status_code: int | None = None
        error: str | None = None
        try:
            headers = {"content-type": "application/json", **signed_headers(item.secret, item.body)}
            response = self._client.post(item.url, content=item.body, headers=headers)
            status_code = response.status_code
            ok = response.is_success
            if not ok:
                error = f"answered {status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:200]
        self._record(item.delivery_id, ok, status_code, error)
        return ok

    def _record(
        self, delivery_id: int, ok: bool, status_code: int | None, error: str | None
    ) -> None:
        now = utcnow()
        try:
            with self.database.write() as session:
                delivery = session.get_one(RelayDelivery, delivery_id)
                delivery.attempts += 1
                delivery.last_status_code, delivery.last_error = status_code, error
                if ok:
                    delivery.status, delivery.delivered_at = DELIVERED, now
                elif now - delivery.created_at >= GIVE_UP_AFTER:
                    delivery.status = FAILED
                else:
                    delay = min(BACKOFF_BASE * 2 ** (delivery.attempts - 1), BACKOFF_MAX)
                    delivery.next_attempt_at = now + delay
        except SQLAlchemyError:
            log.exception("could not record relay delivery %s; it is sent again later", delivery_id)

"""Pruning the webhook inbox and the relay's outbox: what is done and old is deleted.

Every verified Magic Hour call is kept in ``webhook_events`` (:mod:`ledger.webhooks.inbox`),
and every event owed to a team in ``relay_deliveries`` (:mod:`ledger.webhooks.relay`); without
pruning both grow with every render, for ever. An event is needed while Magic Hour may still
repeat it (it retries for up to 24 hours: its row is what makes a repeat a duplicate) and while
a relay delivery of it may still be sent (the relay gives up after 24 hours). So an event
processed more than :data:`KEEP` ago whose deliveries all ended (delivered or given up) is
deleted with those deliveries. Should Magic Hour ever repeat one after that, it is processed
again and moves no money: its job's hold has ended, and a bypass project is recorded once per
project; its team may receive it once more, as at-least-once delivery allows.

The money is not here: jobs, entries, balances and bypass projects are never pruned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select

from ledger.db import Database
from ledger.models import RelayDelivery, WebhookEvent, utcnow
from ledger.webhooks.relay import PENDING

KEEP = timedelta(days=7)
BATCH = 500  # events per transaction: a short one, between the drain's and the relay's
EVERY_SECONDS = 3600


def prune(
    database: Database, *, now: datetime | None = None, keep: timedelta = KEEP, batch: int = BATCH
) -> int:
    """Delete the events processed before ``now - keep`` whose relay deliveries all ended
    before then too, with those deliveries; returns how many events were deleted."""
    cutoff = (now or utcnow()) - keep
    open_or_recent = exists().where(
        RelayDelivery.event_id == WebhookEvent.id,
        or_(
            RelayDelivery.status == PENDING,
            RelayDelivery.created_at >= cutoff,
            RelayDelivery.delivered_at >= cutoff,  # NULL (never delivered) is not recent
        ),
    )
    done = (
        select(WebhookEvent.id)
        .where(WebhookEvent.processed_at < cutoff, ~open_or_recent)
        .order_by(WebhookEvent.id)
        .limit(batch)
    )
    deleted = 0
    while True:
        # Rows are deleted children first (deliveries, then their events), each batch in its
        # own transaction. Nothing else writes these rows any more: the drain takes only
        # unprocessed events and the relay only pending deliveries, so no lock is waited for.
        with database.write() as session:
            ids = list(session.scalars(done))
            if ids:
                session.execute(delete(RelayDelivery).where(RelayDelivery.event_id.in_(ids)))
                session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < batch:
            return deleted

"""Outgoing webhooks, as Magic Hour sends them (``magic-hour-pricing.md`` §4):
``<kind>.started`` when rendering begins, ``<kind>.completed`` or ``<kind>.errored`` when it ends;
nothing for ``canceled``.

Body: ``{"type": "video.completed", "payload": <the project GET body at the event's moment>}``,
serialized once; those exact bytes are sent with ``content-type: application/json`` and signed:
``magic-hour-event-timestamp`` is the Unix time in whole seconds and
``magic-hour-event-signature`` the lowercase hex HMAC-SHA256, keyed with the secret, of
``"{timestamp}.{body}"``.

A delivery that gets no 2xx within ``timeout`` seconds (wall time) is retried after 1, 2, 4, ...
seconds of simulated time (times ``time_scale``), each retry re-signed with a fresh timestamp over
the same bytes, until 24 simulated hours after the event; then it is given up. A 2xx ends it.

One background thread per server process sends the events of the jobs that process created, in
time order (a retry waits its turn like any event), so a slow or failing receiver never delays an
API answer. When more than ``MAX_PENDING`` deliveries wait, the events of new jobs are dropped.
Counters: ``webhook:sent`` (2xx), ``webhook:failed`` (an attempt without a 2xx),
``webhook:retried`` (an attempt after the first), ``webhook:gave_up``, ``webhook:dropped``.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ledger.simulator.projects import project_view, status_at
from ledger.simulator.store import Job, Store

MAX_PENDING = 10_000
RETRY_WINDOW_SECONDS = 24 * 3600.0  # simulated seconds after the event
TIMESTAMP_HEADER = "magic-hour-event-timestamp"
SIGNATURE_HEADER = "magic-hour-event-signature"

log = logging.getLogger(__name__)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Magic Hour's signature of ``body`` sent at ``timestamp`` (a string of Unix seconds)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class _Delivery:
    """One event on its way: what it is, when it happened, what was sent, how often."""

    job_id: str
    event: str
    base_url: str
    event_at: float  # wall time the event happened (the retry window starts here)
    body: bytes | None = None  # serialized at the first attempt, then sent unchanged
    attempts: int = 0


class WebhookSender:
    """Schedules and sends the events of jobs; start it lazily (it must run after a fork)."""

    def __init__(
        self,
        url: str,
        secret: str,
        store: Store,
        *,
        timeout: float = 10.0,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self.store = store
        self.timeout = timeout
        self.time_scale = time_scale
        self.clock = clock
        self._queue: list[tuple[float, int, _Delivery]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = 0

    def __repr__(self) -> str:  # never the secret
        return f"WebhookSender(url={self.url!r}, timeout={self.timeout!r})"

    def schedule(self, job: Job, base_url: str) -> None:
        """Queue the events ``job`` will cause, as planned at its creation."""
        events = [(job.started_at, "started")]
        if job.outcome in ("complete", "error"):
            events.append((job.finish_at, "completed" if job.outcome == "complete" else "errored"))
        with self._wake:
            self._ensure_thread()
            if len(self._queue) + len(events) > MAX_PENDING:
                self.store.count("webhook:dropped", len(events))
                return
            for at, event in events:
                self._push(at, _Delivery(job.id, event, base_url, at))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)

    def _push(self, at: float, delivery: _Delivery) -> None:
        heapq.heappush(self._queue, (at, next(self._order), delivery))

    def _ensure_thread(self) -> None:
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._queue.clear()  # a forked child does not own its parent's events
            self._thread = threading.Thread(target=self._run, name="sim-webhooks", daemon=True)
            self._thread.start()

    def _next_due(self) -> _Delivery | None:
        with self._wake:
            while not self._stopping:
                now = self.clock()
                if self._queue and self._queue[0][0] <= now:
                    return heapq.heappop(self._queue)[2]
                wait = self._queue[0][0] - now if self._queue else None
                self._wake.wait(timeout=wait)
            return None

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while (delivery := self._next_due()) is not None:
                try:
                    self._deliver(client, delivery)
                except Exception:  # the thread must outlive any one delivery
                    log.exception("webhook %s for %s failed", delivery.event, delivery.job_id)
        self.store.close()

    def _deliver(self, client: httpx.Client, delivery: _Delivery) -> None:
        job = self.store.job(delivery.job_id)
        if job is None:
            return  # the simulator was reset: its jobs are forgotten
        if delivery.body is None:
            # the project as it was when the event happened, even if the sender runs behind
            at = delivery.event_at
            if status_at(job, at) == "canceled":
                return  # canceled by hand before this event: canceled jobs send nothing
            body: dict[str, Any] = {
                "type": f"{job.kind}.{delivery.event}",
                "payload": project_view(job, at, delivery.base_url),
            }
            delivery.body = json.dumps(body, separators=(",", ":")).encode()
        if delivery.attempts:
            self.store.count("webhook:retried")
        delivery.attempts += 1
        if self._post(client, delivery.body, delivery):
            self.store.count("webhook:sent")
            return
        self.store.count("webhook:failed")
        backoff = 2.0 ** (delivery.attempts - 1) * self.time_scale
        retry_at = self.clock() + backoff
        if retry_at > delivery.event_at + RETRY_WINDOW_SECONDS * self.time_scale:
            self.store.count("webhook:gave_up")
            log.warning(
                "webhook %s for %s given up after %d attempts",
                delivery.event,
                delivery.job_id,
                delivery.attempts,
            )
            return
        with self._wake:
            self._push(retry_at, delivery)

    def _post(self, client: httpx.Client, body: bytes, delivery: _Delivery) -> bool:
        """One signed attempt; True on a 2xx within the timeout."""
        timestamp = str(int(self.clock()))
        headers = {
            "content-type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        deadline = time.monotonic() + self.timeout
        try:
            response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhook %s for %s not delivered: %s", delivery.event, delivery.job_id, exc)
            return False
        if time.monotonic() > deadline:
            log.info("webhook %s for %s answered too late", delivery.event, delivery.job_id)
            return False
        if not response.is_success:
            log.info(
                "webhook %s for %s answered %d",
                delivery.event,
                delivery.job_id,
                response.status_code,
            )
        return response.is_success

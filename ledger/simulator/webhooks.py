"""Outgoing webhooks: ``<kind>.started`` when rendering begins, ``<kind>.completed`` or
``<kind>.errored`` when it ends; nothing for ``canceled`` (reference §5).

Body: ``{"type": "video.completed", "payload": <the project GET body>}``. Delivery is
best-effort: one background thread per server process sends the events of the jobs that process
created, in time order, each POST bounded by a short timeout, with no retry. When more than
``MAX_PENDING`` events wait, new ones are dropped (and counted).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from ledger.simulator.projects import project_view, status_at
from ledger.simulator.store import Job, Store

MAX_PENDING = 10_000
DELIVERY_TIMEOUT = 2.0

log = logging.getLogger(__name__)


class WebhookSender:
    """Schedules and sends the events of jobs; start it lazily (it must run after a fork)."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.headers = {"content-type": "application/json", **headers}
        self.store = store
        self.clock = clock
        self._queue: list[tuple[float, int, str, str, str]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = 0

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
                heapq.heappush(self._queue, (at, next(self._order), job.id, event, base_url))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=DELIVERY_TIMEOUT + 1)

    def _ensure_thread(self) -> None:
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._queue.clear()  # a forked child does not own its parent's events
            self._thread = threading.Thread(target=self._run, name="sim-webhooks", daemon=True)
            self._thread.start()

    def _next_due(self) -> tuple[str, str, str] | None:
        with self._wake:
            while not self._stopping:
                now = self.clock()
                if self._queue and self._queue[0][0] <= now:
                    _, _, job_id, event, base_url = heapq.heappop(self._queue)
                    return job_id, event, base_url
                wait = self._queue[0][0] - now if self._queue else None
                self._wake.wait(timeout=wait)
            return None

    def _run(self) -> None:
        with httpx.Client(timeout=DELIVERY_TIMEOUT) as client:
            while (due := self._next_due()) is not None:
                self._deliver(client, *due)
        self.store.close()

    def _deliver(self, client: httpx.Client, job_id: str, event: str, base_url: str) -> None:
        job = self.store.job(job_id)
        now = self.clock()
        if job is None or status_at(job, now) == "canceled":
            return  # reset, or canceled by hand: canceled jobs send nothing
        body: dict[str, Any] = {
            "type": f"{job.kind}.{event}",
            "payload": project_view(job, now, base_url),
        }
        try:
            response = client.post(self.url, json=body, headers=self.headers)
            outcome = "sent" if response.is_success else "failed"
        except httpx.HTTPError as exc:
            log.info("webhook %s for %s not delivered: %s", event, job_id, exc)
            outcome = "failed"
        self.store.count(f"webhook:{outcome}")

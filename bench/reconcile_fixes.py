"""Changes proposed for ledger/reconcile.py, prototyped for bench/reconcile_bench.py only.

Nothing here is imported by ledger, and nothing under ledger/ is changed. Each change is a small
override of :class:`ledger.reconcile.Reconciler` (or a WSGI wrapper around the webhook route) so
that the bench can show its effect:

1. **Learn from every first poll, in both directions.** ``Reconciler._learn`` only learns from
   jobs found finished on their first poll, and then from ``now - submitted_at``, which is the
   poll time, never less than the prediction: every sample says "later", so the prediction only
   ever grows (by about the sweep lag each time) and a first poll that comes too early teaches
   nothing. Here the first poll of a sweep is a yes/no observation ("done by then?") and a
   factor per clip-length bucket (powers of two) on the prior moves down a little on "yes" and
   up a little on "no", so that it settles where ``FIRST_POLL_DONE`` of first polls find the job
   done (a quantile tracker: it needs no true end time, which upstream does not give).
2. **Flatter backoff.** Polls 2-8 of a job come every two poll intervals instead of growing by
   x1.5 from the first; the growth only starts after the eighth poll. Delay after completion is
   then at most about two intervals, which is the target.
3. **With webhooks, the sweep is a safety net.** The first sweep poll goes at twice the
   prediction plus twelve intervals, so the ``completed`` webhook almost always comes first; a
   lost webhook still settles, later.
4. **Webhooks for non-terminal events cost nothing.** ``*.started`` is answered without a poll
   (the event type only decides *whether* to look, never what is charged); today every event is
   a GET, and a ``started`` poll also reschedules the job to the backoff, replacing the
   prediction.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ledger.models import Job, utcnow
from ledger.reconcile import TERMINAL, Reconciler
from ledger.upstream import UpstreamReply

FIRST_POLL_DONE = 0.25  # aim: a quarter of first polls find the job done
# Log-step of the factor per turnover of the jobs awaiting their first poll: each observation
# moves it by STEP / (jobs of its bucket scheduled but not yet polled). Feedback comes one render
# time late; a fixed step per observation overshoots by the size of that pipeline (measured: a
# 5 % step drove the factor up by 10x and left jobs unsettled for minutes).
STEP = 0.5
_sweeping = threading.local()


def clip_bucket(clip: float | None) -> int:
    return int(math.log2(max(clip or 1.0, 1.0)))


class FixedReconciler(Reconciler):
    expect_webhooks: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.factors: dict[tuple[str, int], float] = {}
        self.pending: dict[tuple[str, int], int] = {}  # scheduled, first poll not seen yet

    # 1. learn from every first sweep poll, both ways
    def predicted_duration(self, endpoint: str, kind: str, clip: float | None) -> timedelta:
        prior = super().predicted_duration(endpoint, kind, clip)
        key = (endpoint, clip_bucket(clip))
        with self._lock:
            factor = self.factors.get(key, 1.0)
            self.pending[key] = self.pending.get(key, 0) + 1  # only schedule_new predicts
        seconds = prior.total_seconds() * factor
        if self.expect_webhooks:  # 3. the sweep is only a safety net
            seconds = 2 * seconds + 12 * self.poll_interval
        return timedelta(seconds=seconds)

    def _learn(self, job: Job, now: datetime) -> None:
        pass  # replaced by the first-poll observations in apply()

    def _poll_claimed(self, claimed: tuple[str, str, str]) -> tuple[bool, str]:
        _sweeping.active = True
        try:
            return super()._poll_claimed(claimed)
        finally:
            _sweeping.active = False

    def apply(self, job_id: str, reply: UpstreamReply) -> str:
        if getattr(_sweeping, "active", False) and reply.status == 200 and not self.expect_webhooks:
            with self.database.read() as session:
                row = session.execute(
                    select(Job.polls, Job.endpoint, Job.clip_seconds).where(Job.id == job_id)
                ).first()
            project = reply.json()
            if row is not None and not row[0] and isinstance(project, dict):
                done = project.get("status") in TERMINAL
                key = (row[1], clip_bucket(row[2]))
                with self._lock:
                    pending = max(1, self.pending.get(key, 0))
                    self.pending[key] = pending - 1
                    step = STEP / pending * (-(1 - FIRST_POLL_DONE) if done else FIRST_POLL_DONE)
                    factor = self.factors.get(key, 1.0) * math.exp(step)
                    self.factors[key] = min(max(factor, 0.25), 4.0)  # short jobs: sweep lag
        return super().apply(job_id, reply)

    # 2. flatter backoff
    def _backoff(self, job_id: str) -> datetime:
        with self.database.read() as session:
            polls = session.scalar(select(Job.polls).where(Job.id == job_id)) or 0
        if polls <= 1:
            factor = 1.0
        elif polls <= 8:
            factor = 2.0
        else:
            factor = min(2.0 * 1.5 ** (polls - 8), 12.0)
        delay = self.poll_interval * factor * random.uniform(0.8, 1.0)
        return utcnow() + timedelta(seconds=delay)


def drop_started_webhooks(wsgi: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """4. WSGI wrapper: answer ``*.started`` webhooks without polling; only ends cost a GET."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/webhooks/magic-hour":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
            try:
                event = json.loads(raw).get("type", "")
            except (ValueError, AttributeError):
                event = ""
            if isinstance(event, str) and event.endswith(".started"):
                start_response("200 OK", [("Content-Type", "application/json")])
                return [b'{"outcome": "ignored: not an end"}']
            import io

            environ["wsgi.input"] = io.BytesIO(raw)
        return wsgi(environ, start_response)

    return app

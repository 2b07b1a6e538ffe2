"""When reconciliation looks at a job: the first poll learns from its outcome, later polls back
off gently. No database needed: these are the scheduling rules alone."""

from __future__ import annotations

from datetime import timedelta

from ledger.models import utcnow
from ledger.reconcile import Claimed, Reconciler


def reconciler(**options) -> Reconciler:  # type: ignore[no-untyped-def]
    return Reconciler(database=None, upstream=None, poll_interval=5.0, **options)  # type: ignore[arg-type]


def first_polls(r: Reconciler, done: bool, times: int, clip: float = 10.0) -> timedelta:
    for _ in range(times):
        r.predicted_duration("image-to-video", "video", clip, count=True)
        r._observe_first_poll(Claimed("j", "u", "video", 0, "image-to-video", clip), done=done)
    return r.predicted_duration("image-to-video", "video", clip)


def test_first_polls_that_find_jobs_done_make_the_next_ones_earlier() -> None:
    r = reconciler()
    prior = r.predicted_duration("image-to-video", "video", 10.0)
    assert first_polls(r, done=True, times=10) < prior


def test_first_polls_that_come_too_early_make_the_next_ones_later() -> None:
    r = reconciler()
    prior = r.predicted_duration("image-to-video", "video", 10.0)
    later = first_polls(r, done=False, times=10)
    assert later > prior
    assert later <= prior * 4  # bounded: a burst of early polls cannot push it out for ever


def test_what_is_learned_for_one_clip_length_leaves_others_alone() -> None:
    r = reconciler()
    long_prior = r.predicted_duration("image-to-video", "video", 60.0)
    first_polls(r, done=True, times=10, clip=4.0)
    assert r.predicted_duration("image-to-video", "video", 60.0) == long_prior


def test_with_webhooks_the_sweep_waits_well_past_the_prediction() -> None:
    plain, hooked = reconciler(), reconciler(expect_webhooks=True)
    guess = plain.predicted_duration("image-to-video", "video", 10.0)
    assert hooked.predicted_duration("image-to-video", "video", 10.0) == 2 * guess + timedelta(
        seconds=60
    )


def test_backoff_is_flat_at_first_then_spreads_out() -> None:
    r = reconciler()

    def delay(polls: int) -> float:
        return (r._backoff(polls) - utcnow()).total_seconds()

    assert all(3.9 < delay(n) <= 5.0 for n in (0, 1))  # after the first two polls: one interval
    assert all(7.9 < delay(n) <= 10.0 for n in range(2, 9))  # up to the eighth: two intervals
    assert 10.0 < delay(10) <= 60.0 and delay(30) <= 60.0  # then growing, at most 12 intervals

"""Learned prices are read once per second per process, however many requests find them stale
together (256 threads each reading them again was a measurable part of a busy worker)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.pricing import learning


class CountedReads:
    """``Database.read``, counting the reads."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.count = 0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Session]:
        self.count += 1
        with self.database.read() as session:
            yield session


def test_threads_that_find_the_prices_stale_together_read_them_once(database: Database) -> None:
    reads = CountedReads(database)
    clock = [100.0]
    prices = learning.LearnedPrices(reads, clock=lambda: clock[0])
    prices.learned()
    assert reads.count == 1
    clock[0] += learning.REFRESH_SECONDS  # stale for everyone from now on
    barrier = threading.Barrier(16)

    def look(_: int) -> None:
        barrier.wait()
        prices.learned()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(look, range(16)))
    assert reads.count == 2
    prices.learned()  # still fresh
    assert reads.count == 2


def test_an_observation_made_here_is_read_at_once(database: Database) -> None:
    reads = CountedReads(database)
    prices = learning.LearnedPrices(reads, clock=lambda: 100.0)
    prices.learned()
    learning._recorded_here.set()  # what observe() does when it records a charge
    prices.learned()
    assert reads.count == 2

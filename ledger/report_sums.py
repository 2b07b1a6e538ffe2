"""The sums under a spend report: ``jobs, held, spent, released`` per group over a window.

Whole days (in the billing time zone, :mod:`ledger.zones`) are read from ``spend_rollups``; the
parts of a window that do not cover a whole day, and every grouping by tag, from ``jobs``
(whose ``held_credits``, ``charged_credits`` and ``released_credits`` say the same per job).
Grouping ``jobs`` by local day is done in SQL, as the UTC time plus the zone's offset, one
query per stretch of days with one offset (:func:`_day_pieces`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Interval,
    Table,
    and_,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from ledger.models import Job, SpendRollup
from ledger.zones import billing_zone, ceil_to_day, day_start, local_date, local_midnight

MEASURES = ("jobs", "held", "spent", "released")

_rollups = cast(Table, SpendRollup.__table__)
_jobs = cast(Table, Job.__table__)


def sums(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    sources: list[str],
    tags: list[str],
    team_id: int | None,
) -> dict[tuple[Any, ...], list[int]]:
    """``jobs, held, spent, released`` per distinct value of the ``sources`` columns (and tags)
    over the jobs created in ``[start, end)``."""
    found: dict[tuple[Any, ...], list[int]] = {}

    def add(rows: Iterable[Any], *, from_rollups: bool) -> None:
        for row in rows:
            key = tuple(row[: len(row) - len(MEASURES)])
            if from_rollups:  # '' means none, as in jobs
                key = tuple(None if v == "" else v for v in key)
            into = found.setdefault(key, [0] * len(MEASURES))
            for i, amount in enumerate(row[len(row) - len(MEASURES) :]):
                into[i] += int(amount or 0)

    first_midnight = ceil_to_day(start)
    last_midnight = day_start(end)
    if tags or first_midnight >= last_midnight:
        add(_from_jobs(session, [(start, end)], sources, tags, team_id), from_rollups=False)
        return found
    add(
        _from_rollups(
            session, local_date(first_midnight), local_date(last_midnight), sources, team_id
        ),
        from_rollups=True,
    )
    edges = [(a, b) for a, b in ((start, first_midnight), (last_midnight, end)) if a < b]
    if edges:
        add(_from_jobs(session, edges, sources, tags, team_id), from_rollups=False)
    return found


def _from_rollups(
    session: Session, first: date, end: date, sources: list[str], team_id: int | None
) -> Iterable[Any]:
    columns = [_rollups.c[s] for s in sources]
    query = select(*columns, *(func.sum(_rollups.c[m]) for m in MEASURES)).where(
        _rollups.c.day >= first, _rollups.c.day < end
    )
    if team_id is not None:
        query = query.where(_rollups.c.team_id == team_id)
    if columns:
        query = query.group_by(*columns)
    return session.execute(query).all()


def _from_jobs(
    session: Session,
    windows: list[tuple[datetime, datetime]],
    sources: list[str],
    tags: list[str],
    team_id: int | None,
) -> Iterable[Any]:
    if "day" not in sources:
        return _jobs_query(session, windows, [_jobs.c[s] for s in sources], tags, team_id).all()
    # The local day of a job, in SQL, as its UTC time plus the zone's offset: one query per
    # stretch of days with one offset; a day when the clocks change is a query of its own.
    at = sources.index("day")
    others = [_jobs.c[s] for s in sources if s != "day"]
    rows: list[Any] = []
    for first, after, offset, day in _day_pieces(session, windows, team_id):
        if day is None:
            columns = [*others[:at], _shifted_day(session, offset), *others[at:]]
            rows += _jobs_query(session, [(first, after)], columns, tags, team_id)
        else:
            found = _jobs_query(session, [(first, after)], others, tags, team_id)
            rows += [(*row[:at], day, *row[at:]) for row in found]
    return rows


def _jobs_query(
    session: Session,
    windows: list[tuple[datetime, datetime]],
    columns: Sequence[ColumnElement[Any]],
    tags: list[str],
    team_id: int | None,
) -> Any:
    columns = [*columns, *(Job.tags[tag].as_string() for tag in tags)]
    query = select(
        *columns,
        func.count(),
        func.sum(_jobs.c.held_credits),
        func.sum(func.coalesce(_jobs.c.charged_credits, 0)),
        func.sum(_jobs.c.released_credits),
    ).where(or_(*(and_(Job.created_at >= a, Job.created_at < b) for a, b in windows)))
    if team_id is not None:
        query = query.where(_jobs.c.team_id == team_id)
    if columns:
        query = query.group_by(*columns)
    return session.execute(query)


def _day_pieces(
    session: Session, windows: list[tuple[datetime, datetime]], team_id: int | None
) -> list[tuple[datetime, datetime, timedelta, date | None]]:
    """``windows`` cut into ``(from, to, offset, None)`` where every job's local day is its UTC
    time plus ``offset``, and ``(from, to, _, day)`` for a day when the offset changes. Only
    the stretch between the first and the last job in a window is cut (a window may span
    centuries; the jobs do not)."""
    zone = billing_zone()
    pieces: list[tuple[datetime, datetime, timedelta, date | None]] = []
    for start, end in windows:
        span = select(func.min(Job.created_at), func.max(Job.created_at)).where(
            Job.created_at >= start, Job.created_at < end
        )
        if team_id is not None:
            span = span.where(Job.team_id == team_id)
        first, last = session.execute(span).one()
        if first is None:
            continue
        day = local_date(first)
        while True:
            begins, ends = local_midnight(day), local_midnight(day + timedelta(days=1))
            piece_start, piece_end = max(begins, start), min(ends, end)
            offset = begins.astimezone(zone).utcoffset() or timedelta(0)
            last_offset = (ends - timedelta(microseconds=1)).astimezone(zone).utcoffset()
            if offset != last_offset:
                pieces.append((piece_start, piece_end, offset, day))
            elif pieces and pieces[-1][1] == piece_start and pieces[-1][2:] == (offset, None):
                pieces[-1] = (pieces[-1][0], piece_end, offset, None)
            else:
                pieces.append((piece_start, piece_end, offset, None))
            if ends > last or ends >= end:
                break
            day += timedelta(days=1)
    return pieces


def _shifted_day(session: Session, offset: timedelta) -> ColumnElement[date]:
    """The date of a job's creation shifted by ``offset``, in SQL (SQLite stores UTC as naive
    text)."""
    if session.get_bind().dialect.name == "postgresql":
        moment: ColumnElement[Any] = func.timezone("UTC", _jobs.c.created_at)
        if offset:
            moment = moment + literal(offset, Interval())
        day = func.date(moment)
    elif offset:
        day = func.date(_jobs.c.created_at, f"{int(offset.total_seconds()):+d} seconds")
    else:
        day = func.date(_jobs.c.created_at)
    return type_coerce(day, Date()).label("day")

"""``ledger audit``: check the invariants of the ledger (CONTRACT §7) on a live database.

Each check reads what the data can show and reports violations as one readable line each. The
checks recompute everything from the journal, the one source of truth, and compare it with the
cached balances and the jobs.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from ledger.accounting import ENTRY_FLOWS, TWO_WAY_KINDS, column_deltas
from ledger.billing_zone import stored_zone
from ledger.models import (
    ENDING_KINDS,
    OPEN_STATUSES,
    Account,
    ApiKey,
    Balance,
    Entry,
    EntryKind,
    Job,
    JobStatus,
    SpendRollup,
    Team,
)
from ledger.teams import KEY_PREFIX
from ledger.zones import local_date, zone_name

_HASH_RE = re.compile(r"[0-9a-f]{64}")
_KEY_IN_TEXT = re.compile(KEY_PREFIX + r"[A-Za-z0-9_-]{32,}")
_BATCH = 5_000


@dataclass
class AuditReport:
    violations: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())


def run(session: Session, *, secrets: list[str] | None = None) -> AuditReport:
    """Run every check; the report lists violations (empty when the ledger is sound)."""
    report = AuditReport()
    slugs = dict(session.execute(select(Team.id, Team.slug)).all())
    balances = {b.id: b for b in session.scalars(select(Balance))}
    report.counts["teams"] = len(slugs)
    report.counts["balances"] = len(balances)

    def where(balance_id: int) -> str:
        balance = balances.get(balance_id)
        if balance is None:
            return f"balance {balance_id}"
        start = balance.period_start.date().isoformat()
        slug = slugs.get(balance.team_id, f"#{balance.team_id}")
        return f"team {slug} period {balance.period} from {start}"

    journal, per_job = _replay_journal(session, report, where)
    _check_cached_balances(report, balances, journal, where)
    _check_jobs(session, report, balances, per_job, where)
    _check_rollups(session, report, slugs)
    _check_secrets(session, report, secrets or [])
    return report


@dataclass
class _JobSums:
    held: int = 0
    spent: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    balance_ids: set[int] = field(default_factory=set)


def _stream(session: Session, query):  # type: ignore[no-untyped-def]
    return session.execute(query.execution_options(yield_per=_BATCH))


def _replay_journal(
    session: Session, report: AuditReport, where
) -> tuple[dict[int, Counter[str]], dict[str, _JobSums]]:  # type: ignore[no-untyped-def]
    """Walk the journal in order: sum it per balance and per job, check each posting's shape, and
    check that no hold was taken when it did not fit (invariant 1)."""
    sums: dict[int, Counter[str]] = defaultdict(Counter)
    per_job: dict[str, _JobSums] = defaultdict(_JobSums)
    entries = 0
    query = select(
        Entry.id,
        Entry.balance_id,
        Entry.team_id,
        Entry.job_id,
        Entry.kind,
        Entry.from_account,
        Entry.to_account,
        Entry.credits,
    ).order_by(Entry.id)  # each balance's entries in the order they were written
    balance_teams = dict(session.execute(select(Balance.id, Balance.team_id)).all())
    for entry_id, balance_id, team_id, job_id, kind, source, target, credits in _stream(
        session, query
    ):
        entries += 1
        label = f"entry {entry_id} ({kind}, {where(balance_id)})"
        if credits is None or credits <= 0:
            report.violations.append(f"{label}: credits {credits} is not positive")
            continue
        if not _flow_allowed(kind, source, target):
            report.violations.append(f"{label}: moves credits {source} -> {target}, not allowed")
            continue
        if balance_teams.get(balance_id) != team_id:
            report.violations.append(f"{label}: team does not match its balance's team")
        before = sums[balance_id]
        before.update(column_deltas(kind, source, target, credits))
        if kind == EntryKind.RESERVE:
            available = before["budget"] + before["adjustments"] - before["spent"] - before["held"]
            if available < 0:
                report.violations.append(
                    f"{label}: hold of {credits} accepted with only {available + credits} available"
                )
        if job_id is not None:
            job = per_job[job_id]
            job.kinds[kind] += 1
            job.balance_ids.add(balance_id)
            deltas = column_deltas(kind, source, target, credits)
            job.held += deltas["held"]
            job.spent += deltas["spent"]
        elif kind not in TWO_WAY_KINDS:
            report.violations.append(f"{label}: a hold movement without a job")
    report.counts["entries"] = entries
    return sums, per_job


def _flow_allowed(kind: str, source: str, target: str) -> bool:
    try:
        flow = ENTRY_FLOWS[EntryKind(kind)]
    except ValueError:
        return False
    if (source, target) == flow:
        return True
    return EntryKind(kind) in TWO_WAY_KINDS and (target, source) == flow


def _check_cached_balances(report: AuditReport, balances, journal, where) -> None:  # type: ignore[no-untyped-def]
    """Invariant 2: every cached balance equals the sums of its journal."""
    for balance_id in sorted(set(balances) | set(journal)):
        balance = balances.get(balance_id)
        sums = journal.get(balance_id, Counter())
        if balance is None:
            report.violations.append(f"{where(balance_id)}: journal entries for a missing balance")
            continue
        for column in ("budget", "adjustments", "held", "spent"):
            cached, true = getattr(balance, column), sums[column]
            if cached != true:
                report.violations.append(
                    f"{where(balance_id)}: cached {column} is {cached} but the journal sums to "
                    f"{true}"
                )


def _check_jobs(session, report, balances, per_job, where) -> None:  # type: ignore[no-untyped-def]
    """Invariants 2 and 4: open holds sum to held, settled charges to spent, each hold ended at
    most once and consistently with its entries, each upstream id owned by one job."""
    held_by_balance: Counter[int] = Counter()
    spent_by_balance: Counter[int] = Counter()
    jobs = 0
    query = select(
        Job.id,
        Job.balance_id,
        Job.status,
        Job.estimated_credits,
        Job.held_credits,
        Job.charged_credits,
        Job.ended_at,
    )
    for job_id, balance_id, status, estimated, held, charged, ended_at in _stream(session, query):
        jobs += 1
        sums = per_job.pop(job_id, _JobSums())
        label = f"job {job_id} ({where(balance_id)})"
        is_open = status in OPEN_STATUSES
        if is_open:
            held_by_balance[balance_id] += held
        elif status == JobStatus.SETTLED:
            spent_by_balance[balance_id] += charged or 0
        if sums.balance_ids - {balance_id}:
            report.violations.append(f"{label}: has entries in another period's balance")
        if sums.kinds[EntryKind.RESERVE] != (1 if estimated > 0 else 0):
            report.violations.append(f"{label}: has no single reserve entry for its estimate")
        endings = {k for k in ENDING_KINDS if sums.kinds[k]}
        repeated = [k for k in ENDING_KINDS if sums.kinds[k] > 1]
        if repeated:
            report.violations.append(f"{label}: hold ended more than once ({', '.join(repeated)})")
        if EntryKind.RELEASE in endings and endings - {EntryKind.RELEASE}:
            report.violations.append(f"{label}: hold both released and settled")
        if is_open:
            if endings:
                report.violations.append(f"{label}: still {status} but its hold has ended")
            if ended_at is not None:
                report.violations.append(f"{label}: still {status} but has an end time")
        elif ended_at is None:
            report.violations.append(f"{label}: {status} without an end time")
        expected_held = held if is_open else 0
        if sums.held != expected_held:
            report.violations.append(
                f"{label}: holds {expected_held} but its entries hold {sums.held}"
            )
        expected_spent = (charged or 0) if status == JobStatus.SETTLED else 0
        if sums.spent != expected_spent:
            report.violations.append(
                f"{label}: charged {expected_spent} but its entries spent {sums.spent}"
            )
    report.counts["jobs"] = jobs
    for job_id in sorted(per_job):
        report.violations.append(f"job {job_id}: journal entries for a job that does not exist")
    for balance_id, balance in balances.items():
        if balance.held != held_by_balance[balance_id]:
            report.violations.append(
                f"{where(balance_id)}: held {balance.held} but open holds sum to "
                f"{held_by_balance[balance_id]}"
            )
        if balance.spent != spent_by_balance[balance_id]:
            report.violations.append(
                f"{where(balance_id)}: spent {balance.spent} but settled jobs sum to "
                f"{spent_by_balance[balance_id]}"
            )
    duplicates = session.execute(
        select(Job.upstream_id, func.count())
        .where(Job.upstream_id.is_not(None))
        .group_by(Job.upstream_id)
        .having(func.count() > 1)
    )
    for upstream_id, count in duplicates:
        report.violations.append(f"upstream project {upstream_id} belongs to {count} jobs")


_ROLLUP_SUMS = ("jobs", "held", "spent", "released")


def _check_rollups(session: Session, report: AuditReport, slugs: dict[int, str]) -> None:
    """The spend rollups and each job's ``released_credits`` equal what the journal says: per
    team, creation day (in the billing time zone, which must be the one the database says its
    rollups are kept in), endpoint, model and key, the jobs, what they hold, spent and released."""
    stored = stored_zone(session)
    if stored != zone_name():
        report.violations.append(
            f"the rollups are kept in time zone {stored}, but LEDGER_BILLING_TIMEZONE is "
            f"{zone_name()}"
        )
    per_job: dict[str, Counter[str]] = defaultdict(Counter)
    query = (
        select(
            Entry.job_id, Entry.kind, Entry.from_account, Entry.to_account, func.sum(Entry.credits)
        )
        .where(Entry.job_id.is_not(None))
        .group_by(Entry.job_id, Entry.kind, Entry.from_account, Entry.to_account)
    )
    for job_id, kind, source, target, credits in _stream(session, query):
        sums = per_job[job_id]
        deltas = column_deltas(kind, source, target, int(credits))
        sums["held"] += deltas["held"]
        sums["spent"] += deltas["spent"]
        if (source, target) == (Account.HELD, Account.AVAILABLE):
            sums["released"] += int(credits)
    expected: dict[tuple, Counter[str]] = defaultdict(Counter)  # type: ignore[type-arg]
    jobs = select(
        Job.id,
        Job.team_id,
        Job.created_at,
        Job.endpoint,
        Job.model,
        Job.key_id,
        Job.released_credits,
    )
    for job_id, team_id, created_at, endpoint, model, key_id, released in _stream(session, jobs):
        sums = per_job.get(job_id, Counter())
        if released != sums["released"]:
            report.violations.append(
                f"job {job_id}: released_credits is {released} but its entries released "
                f"{sums['released']}"
            )
        key = (team_id, local_date(created_at), endpoint, model or "", key_id or "")
        expected[key].update(jobs=1, **{c: sums[c] for c in ("held", "spent", "released")})
    rollups = 0
    for row in _stream(session, select(SpendRollup)):
        rollup = row[0]
        rollups += 1
        key = (rollup.team_id, rollup.day, rollup.endpoint, rollup.model, rollup.key_id)
        _compare_rollup(
            report,
            slugs,
            key,
            {c: getattr(rollup, c) for c in _ROLLUP_SUMS},
            expected.pop(key, Counter()),
        )
    for key, sums in sorted(expected.items()):
        if any(sums.values()):
            _compare_rollup(report, slugs, key, dict.fromkeys(_ROLLUP_SUMS, 0), sums)
    report.counts["rollups"] = rollups


def _compare_rollup(report, slugs, key, cached, true) -> None:  # type: ignore[no-untyped-def]
    team_id, day, endpoint, model, key_id = key
    label = (
        f"rollup of team {slugs.get(team_id, f'#{team_id}')} on {day} for {endpoint} "
        f"(model {model or '-'}, key {key_id or '-'})"
    )
    for column in _ROLLUP_SUMS:
        if cached[column] != true[column]:
            report.violations.append(
                f"{label}: {column} is {cached[column]} but the journal says {true[column]}"
            )


def _check_secrets(session: Session, report: AuditReport, secrets: list[str]) -> None:
    """Invariant 6: keys stored only as hashes; no configured secret or team key in stored text."""
    for key_id, key_hash, prefix in session.execute(
        select(ApiKey.id, ApiKey.key_hash, ApiKey.prefix)
    ):
        if not _HASH_RE.fullmatch(key_hash or ""):
            report.violations.append(f"key {key_id}: stored value is not a SHA-256 hash")
        if len(prefix) > 12:
            report.violations.append(f"key {key_id}: stored prefix is longer than 12 characters")
    texts = [
        (Entry, Entry.reason, Entry.id),
        (ApiKey, ApiKey.label, ApiKey.id),
        (Job, cast(Job.tags, String), Job.id),
        (Team, Team.name, Team.id),
    ]
    for model, column, ident in texts:
        for needle in [*secrets, KEY_PREFIX]:
            # LIKE narrows the search ('_' matches any character); Python decides.
            pattern = f"%{needle}{'_' * 32 if needle == KEY_PREFIX else ''}%"
            query = select(ident, column).where(column.like(pattern)).limit(50)
            for hit, value in session.execute(query):
                if needle == KEY_PREFIX:
                    leaked = bool(value and _KEY_IN_TEXT.search(value))
                    what = "a team key"
                else:
                    leaked = bool(value and needle in value)
                    what = "a configured secret"
                if leaked:
                    report.violations.append(
                        f"{model.__tablename__} {hit}: stores {what} in plain text"
                    )

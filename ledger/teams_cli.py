"""``ledger teams`` and ``ledger keys``: the budget holders and the keys their code presents."""

from __future__ import annotations

from typing import Any

import click

from ledger import accounting, teams
from ledger.cli_support import Runtime, pass_runtime, print_records
from ledger.models import ApiKey, Period, Team

PERIOD_CHOICE = click.Choice([p.value for p in Period])
CREDITS = click.IntRange(min=0, max=teams.MAX_CREDITS)
POSITIVE_CREDITS = click.IntRange(min=1, max=teams.MAX_CREDITS)


@click.group("teams")
def teams_group() -> None:
    """Teams: the budget holders."""


@teams_group.command("create")
@click.argument("slug")
@click.option("--budget", type=CREDITS, required=True, help="Credits per period.")
@click.option("--period", type=PERIOD_CHOICE, default=Period.MONTH.value, show_default=True)
@click.option("--name", help="Display name (default: the slug).")
@click.option("--max-per-request", type=POSITIVE_CREDITS, help="Largest single hold allowed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_create(
    runtime: Runtime,
    slug: str,
    budget: int,
    period: str,
    name: str | None,
    max_per_request: int | None,
    as_json: bool,
) -> None:
    """Create team SLUG with a budget of N credits per period."""
    with runtime.database.write() as session:
        team = teams.create_team(
            session,
            slug,
            budget_credits=budget,
            period=period,
            name=name,
            max_credits_per_request=max_per_request,
        )
        view = _team_view(session, team)
    print_records([view], as_json, single=True)


@teams_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_list(runtime: Runtime, as_json: bool) -> None:
    """List teams with their current balance."""
    with runtime.database.read() as session:
        views = [_team_view(session, team) for team in teams.list_teams(session)]
    print_records(views, as_json)


@teams_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_show(runtime: Runtime, slug: str, as_json: bool) -> None:
    """Show one team and its balance for the current period."""
    with runtime.database.read() as session:
        view = _team_view(session, teams.get_team(session, slug))
    print_records([view], as_json, single=True)


@teams_group.command("update")
@click.argument("slug")
@click.option("--budget", type=CREDITS, help="New budget per period (applies at once).")
@click.option("--period", type=PERIOD_CHOICE, help="New period (applies at once).")
@click.option("--name", help="New display name.")
@click.option("--max-per-request", type=POSITIVE_CREDITS, help="Largest single hold allowed.")
@click.option("--no-max-per-request", is_flag=True, help="Remove the per-request cap.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def teams_update(
    runtime: Runtime,
    slug: str,
    budget: int | None,
    period: str | None,
    name: str | None,
    max_per_request: int | None,
    no_max_per_request: bool,
    as_json: bool,
) -> None:
    """Change team SLUG's budget, period, name or cap. History is never rewritten."""
    if max_per_request is not None and no_max_per_request:
        raise click.UsageError("--max-per-request and --no-max-per-request exclude each other")
    changes: dict[str, Any] = {}
    if budget is not None:
        changes["budget_credits"] = budget
    if period is not None:
        changes["period"] = period
    if name is not None:
        changes["name"] = name
    if max_per_request is not None or no_max_per_request:
        changes["max_credits_per_request"] = max_per_request
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    with runtime.database.write() as session:
        team = teams.update_team(session, slug, **changes)
        view = _team_view(session, team)
    print_records([view], as_json, single=True)


@teams_group.command("adjust")
@click.argument("slug")
@click.option(
    "--credits",
    type=click.IntRange(min=-teams.MAX_CREDITS, max=teams.MAX_CREDITS),
    required=True,
    help="Credits to add; negative to remove.",
)
@click.option("--reason", required=True, help="Why (kept in the journal).")
@pass_runtime
def teams_adjust(runtime: Runtime, slug: str, credits: int, reason: str) -> None:
    """Correct SLUG's current period by --credits (a journal entry, never an edit)."""
    with runtime.database.write() as session:
        team = teams.get_team(session, slug)
        entry = accounting.adjust(session, team, credits, teams.validate_reason(reason))
        available = accounting.balance_of(session, team).available
    click.echo(f"entry {entry.id}: {credits:+d} credits for {slug}; available now {available}")


def _team_view(session: Any, team: Team) -> dict[str, Any]:
    balance = accounting.balance_of(session, team)
    return {
        "slug": team.slug,
        "name": team.name,
        "period": team.period,
        "budget": team.budget_credits,
        "max_credits_per_request": team.max_credits_per_request,
        "period_start": balance.period_start,
        "held": balance.held,
        "spent": balance.spent,
        "adjustments": balance.adjustments,
        "available": balance.available,
    }


# -- keys --------------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Team keys: what a team's code uses as its Magic Hour token."""


@keys_group.command("create")
@click.argument("slug")
@click.option("--label", help="What the key is for.")
@click.option("--max-per-request", type=POSITIVE_CREDITS, help="Largest single hold allowed.")
@pass_runtime
def keys_create(
    runtime: Runtime, slug: str, label: str | None, max_per_request: int | None
) -> None:
    """Create a key for team SLUG. The key is printed this once and never stored."""
    with runtime.database.write() as session:
        new = teams.create_key(session, slug, label=label, max_credits_per_request=max_per_request)
    click.echo(new.secret)
    click.echo(f"id {new.key.id}; this is the only time the key is shown", err=True)


@keys_group.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def keys_list(runtime: Runtime, slug: str, as_json: bool) -> None:
    """List team SLUG's keys (prefixes only, never the secrets)."""
    with runtime.database.read() as session:
        views = [_key_view(key) for key in teams.list_keys(session, slug)]
    print_records(views, as_json)


@keys_group.command("revoke")
@click.argument("key_id", metavar="ID")
@pass_runtime
def keys_revoke(runtime: Runtime, key_id: str) -> None:
    """Revoke key ID at once."""
    with runtime.database.write() as session:
        key = teams.revoke_key(session, key_id)
    click.echo(f"key {key.id} ({key.prefix}...) revoked")


def _key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "label": key.label,
        "max_credits_per_request": key.max_credits_per_request,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }

"""``ledger teams webhook set | show | remove SLUG``: a team's relayed Magic Hour webhook.

The commands share the CLI's runtime (``ctx.obj``: settings and database, made on first use).
"""

from __future__ import annotations

import json
from typing import Any

import click

from ledger import teams
from ledger.errors import NotFound
from ledger.models import TeamWebhook
from ledger.webhooks import relay


@click.group("webhook")
def webhook_group() -> None:
    """Where a team's own Magic Hour events are relayed, signed with its own secret."""


@webhook_group.command("set")
@click.argument("slug")
@click.argument("url")
@click.option(
    "--events",
    help="Comma list of event types (default: all), e.g. video.completed,video.errored.",
)
@click.pass_obj
def webhook_set(runtime: Any, slug: str, url: str, events: str | None) -> None:
    """Relay SLUG's events to URL (http or https); prints the new signing secret, once.

    Setting it again replaces the URL and the secret (the old secret stops working)."""
    chosen = [e.strip() for e in events.split(",") if e.strip()] if events is not None else None
    with runtime.database.write() as session:
        team = teams.get_team(session, teams.validate_slug(slug))
        hook, secret = relay.register(session, team.id, url, chosen, runtime.settings.secret_key)
        document = {"team": team.slug, **relay.view(hook), "secret": secret}
    click.echo(json.dumps(document, indent=2))
    click.echo("the secret is shown this once: give it to the team", err=True)


@webhook_group.command("show")
@click.argument("slug")
@click.pass_obj
def webhook_show(runtime: Any, slug: str) -> None:
    """SLUG's relay URL and events (never the secret)."""
    with runtime.database.read() as session:
        team = teams.get_team(session, teams.validate_slug(slug))
        hook = session.get(TeamWebhook, team.id)
        if hook is None:
            raise NotFound(f"team {team.slug} has no webhook")
        click.echo(json.dumps({"team": team.slug, **relay.view(hook)}, indent=2))


@webhook_group.command("remove")
@click.argument("slug")
@click.pass_obj
def webhook_remove(runtime: Any, slug: str) -> None:
    """Stop relaying SLUG's events (pending deliveries are dropped)."""
    with runtime.database.write() as session:
        team = teams.get_team(session, teams.validate_slug(slug))
        if not relay.unregister(session, team.id):
            raise NotFound(f"team {team.slug} has no webhook")
    click.echo(f"team {slug}: webhook removed")

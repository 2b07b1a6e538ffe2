"""The ledger API's webhook routes: each team's relay (admin only: a URL is a place ledger will
send requests to, so only the admin may name one) and its deliveries.

Routes are added to the API blueprint (``/api``), so they share its auth and its checks.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from ledger import queries, teams
from ledger.errors import NotFound
from ledger.models import TeamWebhook
from ledger.web.api import (
    QUERY_PARAMETERS,
    _json_body,
    _only,
    _services,
    _team_for,
    blueprint,
    principal,
    require_admin,
)
from ledger.webhooks import relay

QUERY_PARAMETERS["api.list_deliveries"] = {"limit", "cursor"}


@blueprint.put("/teams/<slug>/webhook")
def set_team_webhook(slug: str) -> Response:
    """``{url, events?}`` -> ``{url, events, created_at, secret}``; the secret is shown once."""
    require_admin()
    body = _json_body()
    _only(body, {"url", "events"}, {"url"})
    services = _services()
    with services.database.write() as session:
        team = teams.get_team(session, teams.validate_slug(slug))
        hook, secret = relay.register(
            session, team.id, body["url"], body.get("events"), services.settings.secret_key
        )
        document = {"team": team.slug, **relay.view(hook), "secret": secret}
    return jsonify(document)


@blueprint.get("/teams/<slug>/webhook")
def get_team_webhook(slug: str) -> Response:
    require_admin()
    with _services().database.read() as session:
        team = teams.get_team(session, teams.validate_slug(slug))
        hook = session.get(TeamWebhook, team.id)
        if hook is None:
            raise NotFound(f"team {team.slug} has no webhook")
        return jsonify({"team": team.slug, **relay.view(hook)})


@blueprint.delete("/teams/<slug>/webhook")
def delete_team_webhook(slug: str) -> Response:
    """Stop relaying to the team (deliveries still pending are dropped with it)."""
    require_admin()
    with _services().database.write() as session:
        team = teams.get_team(session, teams.validate_slug(slug))
        if not relay.unregister(session, team.id):
            raise NotFound(f"team {team.slug} has no webhook")
    return Response(status=204)


@blueprint.get("/teams/<slug>/webhook/deliveries")
def list_deliveries(slug: str) -> Response:
    """Recent relay deliveries, newest first (admin, or the team's own key)."""
    who = principal()
    limit = queries.parse_limit(request.args.get("limit"))
    with _services().database.read() as session:
        team = _team_for(who, session, teams.validate_slug(slug))
        page = queries.list_deliveries(session, team.id, limit, request.args.get("cursor"))
    return jsonify(page.as_json())

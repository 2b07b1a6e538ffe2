"""The ledger API under ``/api``: teams, keys, balances, adjustments, jobs, entries, quotes.

``Authorization: Bearer <admin token>`` may do everything. A team key may read its own team's
balance, jobs, entries and spend report; anything else it asks for is refused (403 for admin
operations, 404 for another team's things). Routes parse, call one service, and shape JSON.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import select

from ledger import accounting, drift, queries, reports, teams
from ledger.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from ledger.models import Job, Team, utcnow
from ledger.periods import parse_moment
from ledger.pricing import learning
from ledger.proxy_input import parse_json_object
from ledger.reconcile import resolve_unknown
from ledger.webhooks import bypass

blueprint = Blueprint("api", __name__, url_prefix="/api")


@dataclass(frozen=True)
class Principal:
    admin: bool
    team_id: int | None = None  # for a team key
    team_slug: str | None = None


def _services() -> Any:
    return current_app.extensions["ledger"]


# The query parameters each listing understands; anything else is refused, not ignored.
QUERY_PARAMETERS = {
    "api.list_teams": {"limit", "cursor"},
    "api.list_jobs": {"limit", "cursor", "team", "status", "endpoint", "since", "until"},
    "api.list_entries": {"limit", "cursor", "team", "since", "until"},
    "api.list_alerts": {"limit", "cursor", "team"},
    "api.spend_report": {"from", "to", "group_by", "team", "format"},
    "api.get_drift": {"from", "to"},
    "api.observed_prices": {"from", "to"},
}


@blueprint.before_request
def _known_query_parameters() -> None:
    unknown = sorted(set(request.args) - QUERY_PARAMETERS.get(request.endpoint or "", set()))
    if unknown:
        principal()  # who asks comes first: a stranger hears 401, not what we accept
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}")


def principal() -> Principal:
    """Who is calling (admin, or a team key), once per request."""
    if "principal" not in g:
        g.principal = _authenticate()
    return g.principal  # type: ignore[no-any-return]


def _authenticate() -> Principal:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <admin token or team key>")
    admin_token = _services().settings.admin_token
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(admin=True)
    with _services().database.read() as session:
        found = teams.authenticate(session, token)
    if found is None:
        raise Unauthorized("unknown token")
    _, team = found
    return Principal(admin=False, team_id=team.id, team_slug=team.slug)


def require_admin() -> Principal:
    who = principal()
    if not who.admin:
        raise Forbidden("this needs the admin token")
    return who


def _team_for(who: Principal, session: Any, slug: str) -> Team:
    """The team named in the path, if the caller may see it (else: no such team)."""
    if not who.admin and slug != who.team_slug:
        raise NotFound(f"no team {slug!r}")
    return teams.get_team(session, slug)


def _team_filter(who: Principal, session: Any) -> int | None:
    """The ``team`` query parameter as a team id; a team key is always held to its own team."""
    if "team" not in request.args:
        return who.team_id
    return _team_for(who, session, teams.validate_slug(request.args["team"])).id


def _json_body() -> dict[str, Any]:
    return parse_json_object(request.get_data(cache=False))


def _only(body: dict[str, Any], allowed: Collection[str], required: Collection[str] = ()) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}")
    missing = sorted(set(required) - set(body))
    if missing:
        raise InvalidInput(f"missing field {missing[0]!r}")


def _created(document: dict[str, Any]) -> Response:
    response = jsonify(document)
    response.status_code = 201
    return response


# -- teams -------------------------------------------------------------------------------------

TEAM_FIELDS = {
    "slug",
    "name",
    "budget_credits",
    "period",
    "max_credits_per_request",
    "alert_thresholds",
}


@blueprint.post("/teams")
def create_team() -> Response:
    require_admin()
    body = _json_body()
    _only(body, TEAM_FIELDS, {"slug", "budget_credits"})
    with _services().database.write() as session:
        team = teams.create_team(
            session,
            body["slug"],
            budget_credits=body["budget_credits"],
            period=body.get("period", "month"),
            name=body.get("name"),
            max_credits_per_request=body.get("max_credits_per_request"),
            alert_thresholds=body.get("alert_thresholds"),
        )
        return _created(queries.team_view(session, team))


@blueprint.get("/teams")
def list_teams() -> Response:
    require_admin()
    limit = queries.parse_limit(request.args.get("limit"))
    after = request.args.get("cursor")
    with _services().database.read() as session:
        query = select(Team).order_by(Team.slug)
        if after:
            query = query.where(Team.slug > _slug_cursor(after))
        found = list(session.scalars(query.limit(limit + 1)))
        items = [queries.team_view(session, team) for team in found[:limit]]
    next_cursor = _slug_cursor_of(items[-1]["slug"]) if len(found) > limit else None
    return jsonify({"items": items, "next_cursor": next_cursor})


def _slug_cursor_of(slug: str) -> str:
    return "t." + slug


def _slug_cursor(cursor: str) -> str:
    if not cursor.startswith("t.") or not teams.SLUG_RE.fullmatch(cursor[2:]):
        raise InvalidInput("cursor is not valid here; start again without it")
    return cursor[2:]


@blueprint.get("/teams/<slug>")
def get_team(slug: str) -> Response:
    who = principal()
    with _services().database.read() as session:
        return jsonify(queries.team_view(session, _team_for(who, session, slug)))


@blueprint.patch("/teams/<slug>")
def update_team(slug: str) -> Response:
    require_admin()
    body = _json_body()
    _only(body, TEAM_FIELDS - {"slug"})
    if not body:
        raise InvalidInput("nothing to change")

    def change(session: Any) -> dict[str, Any]:
        return queries.team_view(session, teams.update_team(session, slug, **body))

    return jsonify(_services().database.transact(change))


@blueprint.get("/teams/<slug>/balance")
def get_balance(slug: str) -> Response:
    who = principal()
    with _services().database.read() as session:
        team = _team_for(who, session, slug)
        forecast = reports.forecasts(session, [team])[team.id]
        return jsonify(queries.balance_view(accounting.balance_of(session, team), forecast))


@blueprint.post("/teams/<slug>/adjustments")
def adjust(slug: str) -> Response:
    require_admin()
    body = _json_body()
    _only(body, {"credits", "reason"}, {"credits", "reason"})
    with _services().database.write() as session:
        team = teams.get_team(session, slug)
        reason = teams.validate_reason(body["reason"])
        entry = accounting.adjust(session, team, body["credits"], reason)
        balance = accounting.balance_of(session, team)
        forecast = reports.forecasts(session, [team])[team.id]
        return _created(
            {
                **queries.entry_view(entry, team.slug, balance.period_start),
                "balance": queries.balance_view(balance, forecast),
            }
        )


# -- keys --------------------------------------------------------------------------------------


@blueprint.post("/teams/<slug>/keys")
def create_key(slug: str) -> Response:
    require_admin()
    body = _json_body() if request.get_data(cache=True) else {}
    _only(body, {"label", "max_credits_per_request"})
    with _services().database.write() as session:
        new = teams.create_key(
            session,
            slug,
            label=body.get("label"),
            max_credits_per_request=body.get("max_credits_per_request"),
        )
    return _created({**queries.key_view(new.key), "key": new.secret})


@blueprint.get("/teams/<slug>/keys")
def list_keys(slug: str) -> Response:
    require_admin()
    with _services().database.read() as session:
        keys = teams.list_keys(session, slug)
    return jsonify({"items": [queries.key_view(k) for k in keys], "next_cursor": None})


@blueprint.delete("/keys/<key_id>")
def revoke_key(key_id: str) -> Response:
    require_admin()
    with _services().database.write() as session:
        key = teams.revoke_key(session, key_id)
    return jsonify(queries.key_view(key))


# -- jobs and entries --------------------------------------------------------------------------


def _filters(who: Principal, session: Any, *, with_job_fields: bool) -> queries.Filters:
    args = request.args
    team_id = _team_filter(who, session)
    return queries.Filters(
        team_id=team_id,
        status=args.get("status") if with_job_fields else None,
        endpoint=args.get("endpoint") if with_job_fields else None,
        since=parse_moment(args.get("since"), "since"),
        until=parse_moment(args.get("until"), "until", end=True),
    )


def _listing(
    lister: Callable[[Any, queries.Filters, int, str | None], queries.Page],
    *,
    with_job_fields: bool,
) -> Response:
    """One page of a listing, for the caller's team (or any, for the admin), with its filters."""
    who = principal()
    limit = queries.parse_limit(request.args.get("limit"))
    with _services().database.read() as session:
        filters = _filters(who, session, with_job_fields=with_job_fields)
        page = lister(session, filters, limit, request.args.get("cursor"))
    return jsonify(page.as_json())


@blueprint.get("/jobs")
def list_jobs() -> Response:
    return _listing(queries.list_jobs, with_job_fields=True)


def _job_for(who: Principal, session: Any, job_id: str) -> tuple[Job, str]:
    row = session.execute(
        select(Job, Team.slug).join(Team, Team.id == Job.team_id).where(Job.id == job_id)
    ).first()
    if row is None or (not who.admin and row[0].team_id != who.team_id):
        raise NotFound(f"no job {job_id!r}")
    return row[0], row[1]


@blueprint.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    who = principal()
    with _services().database.read() as session:
        job, slug = _job_for(who, session, job_id)
        return jsonify(queries.job_with_entries(session, job, slug))


@blueprint.post("/jobs/<job_id>/resolve")
def resolve_job(job_id: str) -> Response:
    require_admin()
    body = _json_body()
    _only(body, {"upstream_id", "release"})
    upstream_id, release = body.get("upstream_id"), body.get("release")
    if (upstream_id is None) == (release is not True):
        raise InvalidInput('give either {"upstream_id": "..."} or {"release": true}')
    if upstream_id is not None and (not isinstance(upstream_id, str) or not upstream_id.strip()):
        raise InvalidInput("upstream_id must be a non-empty string")
    resolve_unknown(_services().database, job_id, upstream_id=upstream_id)
    with _services().database.read() as session:
        job, slug = _job_for(Principal(admin=True), session, job_id)
        return jsonify(queries.job_with_entries(session, job, slug))


@blueprint.get("/entries")
def list_entries() -> Response:
    return _listing(queries.list_entries, with_job_fields=False)


# -- reports -----------------------------------------------------------------------------------

REPORT_FORMATS = ("json", "csv")


@blueprint.get("/reports/spend")
def spend_report() -> Response:
    """Admin: every team, or ``team=``; a team key: its own team only, always."""
    who = principal()
    args = request.args
    output = args.get("format", "json")
    if output not in REPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(REPORT_FORMATS)}")
    group_by = reports.parse_group_by(args.get("group_by"))
    start = parse_moment(args.get("from"), "from")
    end = parse_moment(args.get("to"), "to")
    settings = _services().settings
    with _services().database.read() as session:
        team_id = _team_filter(who, session)
        report = reports.spend_report(
            session,
            start=start,
            end=end,
            group_by=group_by,
            team_id=team_id,
            usd_per_credit=settings.usd_per_credit,
            # The plan's effective rate tells the company's monthly total: not for a team key.
            plan=settings.plan if who.admin else None,
        )
    if output == "csv":
        return Response(
            report.as_csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{report.filename()}"'},
        )
    return jsonify(report.as_json())


# -- quotes ------------------------------------------------------------------------------------


@blueprint.post("/quote")
def quote() -> Response:
    principal()
    body = _json_body()
    _only(body, {"endpoint", "body"}, {"endpoint", "body"})
    endpoint = body["endpoint"]
    if not isinstance(endpoint, str):
        raise InvalidInput("endpoint must be a string such as 'image-to-video'")
    estimate = _services().pricing.estimate(endpoint.removeprefix("/v1/"), body["body"])
    return jsonify(
        {
            "endpoint": estimate.endpoint,
            "kind": estimate.kind,
            "model": estimate.model,
            "resolution": estimate.resolution,
            "audio": estimate.audio,
            "estimated_credits": estimate.credits,
            "basis": estimate.basis,
        }
    )


@blueprint.get("/pricing/observed")
def observed_prices() -> Response:
    """Admin: what Magic Hour charged per pricing key, against the estimates (CONTRACT §4a).

    ``from`` / ``to`` (dates or timestamps) bound the jobs' creation; default: the last 30 days.
    """
    require_admin()
    now = utcnow()
    start = parse_moment(request.args.get("from"), "from") or now - learning.WINDOW
    end = parse_moment(request.args.get("to"), "to", end=True) or now + timedelta(seconds=1)
    prices = _services().pricing
    with _services().database.read() as session:
        rows = learning.observed(session, start, end, prices.basis_of)
    return jsonify(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "items": [row.to_json() for row in rows],
        }
    )


# -- alerts ------------------------------------------------------------------------------------


@blueprint.get("/alerts")
def list_alerts() -> Response:
    """Recent alerts (overruns, thresholds, expired unknown jobs), newest first."""
    who = principal()
    limit = queries.parse_limit(request.args.get("limit"))
    with _services().database.read() as session:
        team_id = _team_filter(who, session)
        page = queries.list_alerts(session, team_id, limit, request.args.get("cursor"))
    return jsonify(page.as_json())


# -- drift -------------------------------------------------------------------------------------


@blueprint.get("/drift")
def get_drift() -> Response:
    """What went around ledger (admin): upstream's spend against ledger's between two account
    snapshots, and the projects Magic Hour's webhooks named that no job owns (``bypass``)."""
    require_admin()
    start = parse_moment(request.args.get("from"), "from")
    end = parse_moment(request.args.get("to"), "to", end=True)
    with _services().database.read() as session:
        try:
            document: dict[str, Any] = drift.drift(session, start, end).as_json()
        except NotFound as missing:
            document = {
                **dict.fromkeys(("from", "to", "upstream_spent", "ledger_spent", "bypassed")),
                "note": missing.message,
            }
        document["bypass"] = bypass.listing(session, start, end)
    return jsonify(document)

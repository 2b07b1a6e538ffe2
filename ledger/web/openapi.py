"""``GET /api/openapi.json``: the OpenAPI 3 description of ``/api``.

Written by hand next to the routes it describes; ``tests/api/test_openapi.py`` runs schemathesis
against it, so a route and its description cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from ledger import __version__

blueprint = Blueprint("openapi", __name__)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"application/json": {"schema": schema}}}
    return {"required": True, **body} if required else body


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json(_ref("Error"), "Error") for s in (401, 422, *statuses)}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_WHEN = {"type": "string", "description": "ISO 8601 date or timestamp, UTC if no zone"}
_SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}
_PERIOD = {"type": "string", "enum": ["none", "day", "week", "month"]}
_STATUS = {"type": "string", "enum": ["reserved", "submitted", "unknown", "settled", "released"]}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
}
_CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string"}}
_SLUG_PATH = {"name": "slug", "in": "path", "required": True, "schema": _SLUG}
_ID_PATH = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Balance": {
        "type": "object",
        "required": [
            "team",
            "period",
            "period_start",
            "period_end",
            "budget",
            "held",
            "spent",
            "adjustments",
            "available",
        ],
        "properties": {
            "team": {"type": "string"},
            "period": _PERIOD,
            "period_start": _TIME,
            "period_end": _NULLABLE_TIME,
            "budget": {"type": "integer"},
            "held": {"type": "integer"},
            "spent": {"type": "integer"},
            "adjustments": {"type": "integer"},
            "available": {"type": "integer"},
        },
    },
    "Team": {
        "type": "object",
        "required": ["slug", "name", "budget_credits", "period", "balance"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "budget_credits": {"type": "integer"},
            "period": _PERIOD,
            "max_credits_per_request": _NULLABLE_INT,
            "alert_thresholds": {"type": "array", "items": {"type": "integer"}},
            "created_at": _TIME,
            "balance": _ref("Balance"),
        },
    },
    "NewTeam": {
        "type": "object",
        "required": ["slug", "budget_credits"],
        "additionalProperties": False,
        "properties": {
            "slug": _SLUG,
            "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200},
            "budget_credits": {"type": "integer", "minimum": 0, "maximum": 10**15},
            "period": _PERIOD,
            "max_credits_per_request": {"type": ["integer", "null"], "minimum": 1},
            "alert_thresholds": {
                "type": ["array", "null"],
                "items": {"type": "integer", "minimum": 1, "maximum": 1000},
                "maxItems": 20,
            },
        },
    },
    "TeamChange": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "budget_credits": {"type": "integer", "minimum": 0, "maximum": 10**15},
            "period": _PERIOD,
            "max_credits_per_request": {"type": ["integer", "null"], "minimum": 1},
            "alert_thresholds": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": 1000},
                "maxItems": 20,
            },
        },
    },
    "Key": {
        "type": "object",
        "required": ["id", "prefix", "label", "created_at", "revoked_at"],
        "properties": {
            "id": {"type": "string"},
            "prefix": {"type": "string"},
            "label": _NULLABLE_STR,
            "max_credits_per_request": _NULLABLE_INT,
            "created_at": _TIME,
            "revoked_at": _NULLABLE_TIME,
        },
    },
    "NewKey": {
        "allOf": [
            _ref("Key"),
            {
                "type": "object",
                "required": ["key"],
                "properties": {"key": {"type": "string", "description": "shown this once"}},
            },
        ]
    },
    "Job": {
        "type": "object",
        "required": [
            "id",
            "team",
            "endpoint",
            "model",
            "status",
            "upstream_id",
            "estimated_credits",
            "held_credits",
            "charged_credits",
            "tags",
            "created_at",
            "ended_at",
        ],
        "properties": {
            "id": {"type": "string"},
            "team": {"type": "string"},
            "endpoint": {"type": "string"},
            "kind": {"type": "string", "enum": ["video", "image", "audio"]},
            "model": _NULLABLE_STR,
            "status": _STATUS,
            "upstream_id": _NULLABLE_STR,
            "upstream_status": _NULLABLE_STR,
            "estimated_credits": {"type": "integer"},
            "held_credits": {"type": "integer"},
            "charged_credits": _NULLABLE_INT,
            "flag": _NULLABLE_STR,
            "key_id": _NULLABLE_STR,
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": _TIME,
            "submitted_at": _NULLABLE_TIME,
            "ended_at": _NULLABLE_TIME,
        },
    },
    "Entry": {
        "type": "object",
        "required": ["id", "team", "job_id", "kind", "credits", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "team": {"type": "string"},
            "job_id": _NULLABLE_STR,
            "kind": {"type": "string"},
            "credits": {"type": "integer", "minimum": 1},
            "from_account": {"type": "string"},
            "to_account": {"type": "string"},
            "period_start": _NULLABLE_TIME,
            "reason": _NULLABLE_STR,
            "created_at": _TIME,
        },
    },
    "JobWithEntries": {
        "allOf": [
            _ref("Job"),
            {
                "type": "object",
                "required": ["entries"],
                "properties": {"entries": {"type": "array", "items": _ref("Entry")}},
            },
        ]
    },
    "Alert": {
        "type": "object",
        "required": ["id", "team", "kind", "message", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "team": {"type": "string"},
            "kind": {"type": "string"},
            "job_id": _NULLABLE_STR,
            "message": {"type": "string"},
            "details": {"type": "object"},
            "created_at": _TIME,
            "delivered_at": _NULLABLE_TIME,
            "attempts": {"type": "integer"},
        },
    },
    "Report": {
        "type": "object",
        "required": ["rows", "totals"],
        "properties": {
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["jobs", "held", "spent", "released"],
                    "properties": {
                        "jobs": {"type": "integer"},
                        "held": {"type": "integer"},
                        "spent": {"type": "integer"},
                        "released": {"type": "integer"},
                    },
                },
            },
            "totals": {
                "type": "object",
                "required": ["jobs", "held", "spent", "released"],
            },
        },
    },
    "Chargeback": {
        "type": "object",
        "required": ["month", "from", "to", "time_zone", "plan", "invoice", "rows", "totals"],
        "properties": {
            "month": {"type": "string"},
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "time_zone": {"type": "string"},
            "plan": {"type": "string"},
            "usd_basis": {"type": "string", "enum": ["plan", "usd_per_credit"]},
            "invoice": {
                "type": "object",
                "required": ["credits", "usd", "usd_cents"],
                "properties": {
                    "credits": {"type": ["integer", "null"]},
                    "usd": {"type": "number"},
                    "usd_cents": {"type": "integer"},
                },
            },
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["team", "unattributed", "credits", "usd", "usd_cents"],
                    "properties": {
                        "team": {"type": ["string", "null"]},
                        "unattributed": {"type": "boolean"},
                        "jobs": {"type": ["integer", "null"]},
                        "held": {"type": ["integer", "null"]},
                        "credits": {"type": ["integer", "null"]},
                        "usd": {"type": "number"},
                        "usd_cents": {"type": "integer"},
                    },
                },
            },
            "totals": {"type": "object", "required": ["credits", "usd", "usd_cents"]},
        },
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of /api."""
    team_path = [_SLUG_PATH]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ledger API",
            "version": __version__,
            "description": "Budgets, balances, jobs, the journal and spend reports. Send "
            "`Authorization: Bearer <admin token>`; a team key may read its own team's "
            "balance, jobs, entries, alerts and spend report.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/teams": {
                "post": {
                    "summary": "Create a team (admin)",
                    "requestBody": _body(_ref("NewTeam")),
                    "responses": {
                        "201": _json(_ref("Team"), "Created"),
                        **_errors(403, 409),
                    },
                },
                "get": {
                    "summary": "Teams with their current balance (admin)",
                    "parameters": [_LIMIT, _CURSOR],
                    "responses": {"200": _json(_page("Team")), **_errors(403)},
                },
            },
            "/api/teams/{slug}": {
                "get": {
                    "summary": "A team and its current balance",
                    "parameters": team_path,
                    "responses": {"200": _json(_ref("Team")), **_errors(404)},
                },
                "patch": {
                    "summary": "Change budget, period, caps, thresholds (admin)",
                    "parameters": team_path,
                    "requestBody": _body(_ref("TeamChange")),
                    "responses": {"200": _json(_ref("Team")), **_errors(403, 404)},
                },
            },
            "/api/teams/{slug}/balance": {
                "get": {
                    "summary": "The team's balance for its current period",
                    "parameters": team_path,
                    "responses": {"200": _json(_ref("Balance")), **_errors(404)},
                }
            },
            "/api/teams/{slug}/adjustments": {
                "post": {
                    "summary": "A manual correction: a journal entry, never an edit (admin)",
                    "parameters": team_path,
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["credits", "reason"],
                            "additionalProperties": False,
                            "properties": {
                                "credits": {"type": "integer"},
                                "reason": {"type": "string", "minLength": 1},
                            },
                        }
                    ),
                    "responses": {"201": _json(_ref("Entry"), "Created"), **_errors(403, 404)},
                }
            },
            "/api/teams/{slug}/keys": {
                "post": {
                    "summary": "A new key; the secret is shown this once (admin)",
                    "parameters": team_path,
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "label": {"type": ["string", "null"], "maxLength": 200},
                                "max_credits_per_request": {
                                    "type": ["integer", "null"],
                                    "minimum": 1,
                                },
                            },
                        },
                        required=False,
                    ),
                    "responses": {"201": _json(_ref("NewKey"), "Created"), **_errors(403, 404)},
                },
                "get": {
                    "summary": "The team's keys, without secrets (admin)",
                    "parameters": team_path,
                    "responses": {"200": _json(_page("Key")), **_errors(403, 404)},
                },
            },
            "/api/keys/{id}": {
                "delete": {
                    "summary": "Revoke a key at once (admin)",
                    "parameters": [_ID_PATH],
                    "responses": {"200": _json(_ref("Key")), **_errors(403, 404)},
                }
            },
            "/api/jobs": {
                "get": {
                    "summary": "Jobs, newest first",
                    "parameters": [
                        _LIMIT,
                        _CURSOR,
                        _query("team", _SLUG),
                        _query("status", _STATUS),
                        _query("endpoint", {"type": "string"}),
                        _query("since", _WHEN),
                        _query("until", _WHEN),
                    ],
                    "responses": {"200": _json(_page("Job")), **_errors(404)},
                }
            },
            "/api/jobs/{id}": {
                "get": {
                    "summary": "A job with its journal entries",
                    "parameters": [_ID_PATH],
                    "responses": {"200": _json(_ref("JobWithEntries")), **_errors(404)},
                }
            },
            "/api/jobs/{id}/resolve": {
                "post": {
                    "summary": "Resolve an unknown job: its upstream project, or release (admin)",
                    "parameters": [_ID_PATH],
                    "requestBody": _body(
                        {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["upstream_id"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "upstream_id": {"type": "string", "minLength": 1}
                                    },
                                },
                                {
                                    "type": "object",
                                    "required": ["release"],
                                    "additionalProperties": False,
                                    "properties": {"release": {"const": True}},
                                },
                            ]
                        }
                    ),
                    "responses": {
                        "200": _json(_ref("JobWithEntries")),
                        **_errors(403, 404, 409),
                    },
                }
            },
            "/api/entries": {
                "get": {
                    "summary": "The journal, newest first",
                    "parameters": [
                        _LIMIT,
                        _CURSOR,
                        _query("team", _SLUG),
                        _query("since", _WHEN),
                        _query("until", _WHEN),
                    ],
                    "responses": {"200": _json(_page("Entry")), **_errors(404)},
                }
            },
            "/api/alerts": {
                "get": {
                    "summary": "Alerts, newest first",
                    "parameters": [_LIMIT, _CURSOR, _query("team", _SLUG)],
                    "responses": {"200": _json(_page("Alert")), **_errors(404)},
                }
            },
            "/api/reports/spend": {
                "get": {
                    "summary": "Spend report (format=json or csv)",
                    "parameters": [
                        _query("from", {"type": "string"}),
                        _query("to", {"type": "string"}),
                        _query("group_by", {"type": "string"}),
                        _query("team", _SLUG),
                        _query("format", {"type": "string", "enum": ["json", "csv"]}),
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {"schema": _ref("Report")},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(404),
                    },
                }
            },
            "/api/reports/chargeback": {
                "get": {
                    "summary": "A billing month's invoice split over the teams, in cents that "
                    "add up to it (format=json or csv; admin)",
                    "parameters": [
                        {
                            **_query("month", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}),
                            "required": True,
                        },
                        _query("invoice_credits", {"type": "string", "pattern": "^[0-9]+$"}),
                        _query(
                            "invoice_usd",
                            {"type": "string", "pattern": "^[0-9]+([.][0-9]{1,2})?$"},
                        ),
                        _query("format", {"type": "string", "enum": ["json", "csv"]}),
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {"schema": _ref("Chargeback")},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(403, 409),
                    },
                }
            },
            "/api/drift": {
                "get": {
                    "summary": "What went around ledger: the account's spend against ledger's, "
                    "and projects no job owns (admin)",
                    "parameters": [_query("from", _WHEN), _query("to", _WHEN)],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": [
                                    "from",
                                    "to",
                                    "upstream_spent",
                                    "ledger_spent",
                                    "bypassed",
                                    "bypass",
                                ],
                                "properties": {
                                    "from": _NULLABLE_TIME,
                                    "to": _NULLABLE_TIME,
                                    "upstream_spent": {"type": ["integer", "null"]},
                                    "ledger_spent": {"type": ["integer", "null"]},
                                    "bypassed": {"type": ["integer", "null"]},
                                    "note": {"type": "string"},
                                    "bypass": _BYPASS,
                                },
                            }
                        ),
                        **_errors(403),
                    },
                }
            },
            "/api/quote": {
                "post": {
                    "summary": "Estimate a create call's credits",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["endpoint", "body"],
                            "additionalProperties": False,
                            "properties": {
                                "endpoint": {"type": "string"},
                                "body": {"type": "object"},
                            },
                        }
                    ),
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["estimated_credits", "basis"],
                                "properties": {
                                    "estimated_credits": {"type": "integer"},
                                    "basis": _BASIS,
                                    "model": {"type": ["string", "null"]},
                                    "resolution": {"type": ["string", "null"]},
                                    "audio": {"type": ["boolean", "null"]},
                                },
                            }
                        ),
                        **_errors(404),
                    },
                }
            },
            "/api/pricing/observed": {
                "get": {
                    "summary": "What Magic Hour charged per pricing key against the estimates "
                    "(admin)",
                    "parameters": [_query("from", _WHEN), _query("to", _WHEN)],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["from", "to", "items"],
                                "properties": {
                                    "from": _TIME,
                                    "to": _TIME,
                                    "items": {"type": "array", "items": _OBSERVED_ROW},
                                },
                            }
                        ),
                        **_errors(403),
                    },
                }
            },
        },
    }


_BYPASS = {
    "type": "object",
    "required": ["projects", "credits", "items"],
    "properties": {
        "projects": {"type": "integer"},
        "credits": {"type": "integer"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["project_id", "kind", "status", "credits_charged", "ended"],
                "properties": {
                    "project_id": {"type": "string"},
                    "kind": {"type": "string"},
                    "status": {"type": "string"},
                    "credits_charged": {"type": "integer"},
                    "ended": {"type": "boolean"},
                    "first_seen_at": _TIME,
                },
            },
        },
    },
}
_BASIS = {"type": "string", "enum": ["table", "fallback", "learned"]}
_OBSERVED_ROW = {
    "type": "object",
    "required": [
        "endpoint",
        "model",
        "resolution",
        "audio",
        "jobs",
        "estimated",
        "charged",
        "under_reserved",
        "max_ratio",
        "basis",
    ],
    "properties": {
        "endpoint": {"type": "string"},
        "model": {"type": ["string", "null"]},
        "resolution": {"type": ["string", "null"]},
        "audio": {"type": ["boolean", "null"]},
        "jobs": {"type": "integer"},
        "estimated": {"type": "integer"},
        "charged": {"type": "integer"},
        "under_reserved": {"type": "integer"},
        "max_ratio": {"type": ["number", "null"]},
        "basis": _BASIS,
    },
}


@blueprint.get("/api/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())

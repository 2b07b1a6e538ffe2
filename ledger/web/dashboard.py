"""The dashboard at ``/``: a static page that reads the ledger API with the admin token.

The page itself holds no data, so it is served to anyone; every number comes from ``/api``,
which answers only to ``Authorization: Bearer <admin token>`` (kept in the browser's
sessionStorage after the sign-in form). The Content-Security-Policy allows scripts, styles and
requests from this origin only: no inline script, nothing from a CDN, and text from the API is
inserted as text (``textContent``), never as markup.
"""

from __future__ import annotations

from flask import Blueprint, Response

blueprint = Blueprint(
    "dashboard", __name__, static_folder="static", static_url_path="/dashboard/static"
)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@blueprint.get("/")
def page() -> Response:
    response = blueprint.send_static_file("index.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response

"""The ledger API's chargeback route (admin only: it shows every team and the company's bill).

Routes are added to the API blueprint (``/api``), so they share its auth and its checks.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from ledger import chargeback
from ledger.errors import InvalidInput
from ledger.web.api import QUERY_PARAMETERS, REPORT_FORMATS, _services, blueprint, require_admin

QUERY_PARAMETERS["api.chargeback_report"] = {"month", "invoice_credits", "invoice_usd", "format"}


@blueprint.get("/reports/chargeback")
def chargeback_report() -> Response:
    """``month=YYYY-MM`` (a billing month), optional ``invoice_credits``, ``invoice_usd``,
    ``format=json|csv``: per team its credits and its cents of the month's invoice."""
    require_admin()
    args = request.args
    output = args.get("format", "json")
    if output not in REPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(REPORT_FORMATS)}", field="format")
    month = chargeback.parse_month(args.get("month"))
    invoice_credits = chargeback.parse_invoice_credits(args.get("invoice_credits"))
    invoice_usd = chargeback.parse_invoice_usd(args.get("invoice_usd"))
    settings = _services().settings
    with _services().database.read() as session:
        found = chargeback.chargeback(
            session,
            month,
            plan=settings.plan,
            usd_per_credit=settings.usd_per_credit,
            invoice_credits=invoice_credits,
            invoice_usd=invoice_usd,
        )
    if output == "csv":
        return Response(
            found.as_csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{found.filename()}"'},
        )
    return jsonify(found.as_json())

"""``ledger pricing show | quote | check`` as a user types them: what they print, exit codes."""

from __future__ import annotations

import json

import pytest

from ledger import accounting, teams
from ledger.db import Database


def test_quote_prints_the_estimate_with_its_basis(ledger_cli) -> None:
    code, out, _ = ledger_cli(
        "pricing", "quote", "image-to-video", '{"end_seconds": 10, "model": "seedance-2.5"}'
    )
    assert code == 0
    assert json.loads(out) == {
        "endpoint": "image-to-video",
        "model": "seedance-2.5",
        "resolution": "720p",
        "audio": False,
        "estimated_credits": 5760,
        "basis": "table",
    }
    code, out, _ = ledger_cli(
        "pricing", "quote", "image-to-video", '{"end_seconds": 4, "model": "x"}'
    )
    assert (code, json.loads(out)["basis"], json.loads(out)["estimated_credits"]) == (
        0,
        "fallback",
        2304,
    )


def test_the_plan_decides_what_a_request_without_model_is_priced_as(
    ledger_cli, monkeypatch
) -> None:
    monkeypatch.setenv("LEDGER_PLAN", "free")
    code, out, _ = ledger_cli("pricing", "quote", "text-to-video", '{"end_seconds": 10}')
    assert code == 0
    quoted = json.loads(out)
    assert (quoted["model"], quoted["resolution"], quoted["estimated_credits"]) == (
        "ltx-2.3",
        "480p",
        240,
    )
    monkeypatch.setenv("LEDGER_PLAN", "platinum")
    code, _, err = ledger_cli("pricing", "quote", "text-to-video", '{"end_seconds": 10}')
    assert code == 1 and err.startswith("ledger: bad setting: LEDGER_PLAN: must be one of")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("image-to-video", "not json"), "BODY_JSON"),
        (("image-to-video", '{"end_seconds": -1}'), "end_seconds must be > 0"),
        (("face-detection", "{}"), "no price for endpoint"),
    ],
)
def test_a_bad_quote_is_one_line(ledger_cli, args: tuple[str, str], message: str) -> None:
    code, out, err = ledger_cli("pricing", "quote", *args)
    assert code in (1, 2) and out == ""
    assert message in err and err.count("\n") == 1


def test_show_lists_every_rate_of_the_table(ledger_cli) -> None:
    code, out, _ = ledger_cli("pricing", "show")
    assert code == 0
    assert "plan creator" in out.splitlines()[0]
    assert any(
        line.split()[:4] == ["image-to-video", "model=seedance-2.5,", "resolution=720p", "576"]
        for line in out.splitlines()
    )
    assert "learned (last 30 days): nothing yet" in out
    code, out, _ = ledger_cli("pricing", "show", "--json")
    document = json.loads(out)
    assert document["plan"] == "creator" and document["learned"] == []
    assert {"endpoint": "face-swap", "by": "", "rate": "24", "unit": "per second"} in document[
        "rates"
    ]


def test_check_passes_without_under_reservations_and_fails_naming_the_key(
    ledger_cli, database: Database
) -> None:
    code, out, _ = ledger_cli("pricing", "check")
    assert code == 0 and "pricing check passed: 0 pricing key(s)" in out
    with database.write() as session:
        team = teams.create_team(session, "acme", budget_credits=10_000)
        priced = {"resolution": "1080p", "audio": True, "basis": "table", "table_credits": 100}
        job = accounting.reserve(
            session,
            team.id,
            100,
            endpoint="text-to-video",
            kind="video",
            model="veo3.1",
            priced=priced,
        )
    with database.write() as session:
        accounting.settle(session, job.id, 130)
    code, out, err = ledger_cli("pricing", "check")
    assert code == 1
    assert out.strip() == (
        "under-reserved: text-to-video veo3.1 1080p audio: 1 of 1 jobs charged more than held "
        "(max ratio 1.3; now estimated: learned)"
    )
    assert "pricing check failed: 1 pricing key(s)" in err
    code, out, _ = ledger_cli("pricing", "check", "--to", "2020-01-01")
    assert code == 0
    code, _, err = ledger_cli("pricing", "check", "--from", "yesterday")
    assert code == 2 and "--from must be an ISO 8601 date" in err

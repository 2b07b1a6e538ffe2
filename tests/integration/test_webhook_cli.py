"""``ledger teams webhook set | show | remove`` as a user types them."""

from __future__ import annotations

import json

import pytest

from ledger import teams
from ledger.db import Database
from ledger.webhooks.relay import secret_for

SERVER_KEY = "ledger-secret-key-for-the-cli-test"


@pytest.fixture
def acme(database: Database) -> None:
    with database.write() as session:
        teams.create_team(session, "acme", budget_credits=100)


def test_set_shows_the_secret_once_then_show_and_remove(
    ledger_cli,
    acme,
    monkeypatch,
    database: Database,
) -> None:
    monkeypatch.setenv("LEDGER_SECRET_KEY", SERVER_KEY)
    code, out, err = ledger_cli(
        "teams",
        "webhook",
        "set",
        "acme",
        "https://hooks.acme.test/mh",
        "--events",
        "video.completed,video.errored",
    )
    assert code == 0 and "shown this once" in err
    made = json.loads(out)
    assert made["url"] == "https://hooks.acme.test/mh"
    assert made["events"] == ["video.completed", "video.errored"]
    # the secret is derived from the server's key and a nonce: recomputable, never stored
    from ledger.models import TeamWebhook

    with database.read() as session:
        [hook] = session.query(TeamWebhook).all()
        assert made["secret"] == secret_for(SERVER_KEY, hook.secret_nonce)
        assert made["secret"] not in json.dumps([hook.url, hook.events, hook.secret_nonce])
    code, out, _ = ledger_cli("teams", "webhook", "show", "acme")
    assert code == 0 and "secret" not in json.loads(out) and made["secret"] not in out
    code, out, _ = ledger_cli("teams", "webhook", "remove", "acme")
    assert code == 0 and "removed" in out
    code, _, err = ledger_cli("teams", "webhook", "show", "acme")
    assert code == 1 and "has no webhook" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("acme", "ftp://hooks.acme.test/"), "http(s) URL"),
        (("acme", "https://hooks.acme.test/", "--events", "video.exploded"), "unknown event"),
        (("nobody", "https://hooks.acme.test/"), "no team"),
    ],
)
def test_a_bad_webhook_is_refused_in_one_line(
    ledger_cli,
    acme,
    monkeypatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.setenv("LEDGER_SECRET_KEY", SERVER_KEY)
    code, out, err = ledger_cli("teams", "webhook", "set", *args)
    assert code == 1 and out == "" and message in err and err.count("\n") == 1


def test_without_a_server_key_the_relay_is_off(ledger_cli, acme, monkeypatch) -> None:
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    code, _, err = ledger_cli("teams", "webhook", "set", "acme", "https://hooks.acme.test/")
    assert code == 1 and "LEDGER_SECRET_KEY" in err

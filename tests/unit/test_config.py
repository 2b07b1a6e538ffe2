"""Settings: defaults, then the LEDGER_CONFIG file, then the environment; bad values in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.config import DEFAULT_UPSTREAM_URL, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_do_not_depend_on_the_repository(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.state_dir == tmp_path / "var"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'var' / 'ledger.db'}"
    assert settings.upstream_url == DEFAULT_UPSTREAM_URL
    assert (settings.poll_interval, settings.unknown_hold_hours) == (5.0, 24.0)
    assert settings.magic_hour_api_key is None and settings.admin_token is None
    assert settings.pricing is None and settings.usd_per_credit is None


def test_the_file_then_the_environment_win(tmp_path) -> None:
    config = tmp_path / "ledger.toml"
    config.write_text('poll_interval = 2\nupstream_url = "http://127.0.0.1:8090/"\n')
    settings = load_settings({"LEDGER_CONFIG": str(config), "LEDGER_POLL_INTERVAL": "0.5"})
    assert settings.poll_interval == 0.5  # environment beats file
    assert settings.upstream_url == "http://127.0.0.1:8090"  # file beats default


def test_the_documented_example_file_loads_and_matches_the_defaults(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    example = load_settings({"LEDGER_CONFIG": str(REPO / "config" / "ledger.toml")})
    assert example == load_settings({})


def test_postgres_urls_use_psycopg_3() -> None:
    for given in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert load_settings({"LEDGER_DATABASE_URL": given}).database_url == (
            "postgresql+psycopg://u@h/db"
        )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LEDGER_POLL_INTERVAL": "0"}, "LEDGER_POLL_INTERVAL: must be a finite number > 0"),
        ({"LEDGER_POLL_INTERVAL": "nan"}, "LEDGER_POLL_INTERVAL: must be a finite number > 0"),
        ({"LEDGER_UNKNOWN_HOLD_HOURS": "-1"}, "LEDGER_UNKNOWN_HOLD_HOURS: must be a finite"),
        ({"LEDGER_USD_PER_CREDIT": "free"}, "LEDGER_USD_PER_CREDIT: must be a number"),
        ({"LEDGER_DATABASE_POOL_SIZE": "0"}, "LEDGER_DATABASE_POOL_SIZE: must be a finite"),
        ({"LEDGER_DATABASE_POOL_SIZE": "2.5"}, "LEDGER_DATABASE_POOL_SIZE: must be a whole"),
        ({"LEDGER_UPSTREAM_URL": "ftp://x"}, "LEDGER_UPSTREAM_URL: must be an http(s) URL"),
        ({"LEDGER_ALERT_WEBHOOK_URL": "hooks"}, "LEDGER_ALERT_WEBHOOK_URL: must be an http(s)"),
        ({"LEDGER_DATABASE_URL": "mysql://x/y"}, "LEDGER_DATABASE_URL: must be a sqlite:///"),
        (
            {"LEDGER_DATABASE_URL": "postgresql+asyncpg://x/y"},
            "LEDGER_DATABASE_URL: PostgreSQL needs the psycopg (3) driver",
        ),
        ({"LEDGER_PRICING": "/nonexistent/pricing.toml"}, "LEDGER_PRICING: no such file"),
        ({"LEDGER_CONFIG": "/nonexistent/ledger.toml"}, "LEDGER_CONFIG: no such file"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(environ, message) -> None:
    with pytest.raises(SettingsError) as bad:
        load_settings(environ)
    assert str(bad.value).startswith(message)
    assert "\n" not in str(bad.value)


def test_bad_files_are_named(tmp_path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("poll_interval = [")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings({"LEDGER_CONFIG": str(broken)})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("pol_interval = 3\n")
    with pytest.raises(SettingsError, match="unknown setting 'pol_interval'"):
        load_settings({"LEDGER_CONFIG": str(unknown)})
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('poll_interval = "often"\n')
    with pytest.raises(SettingsError, match=r"^poll_interval in .*wrong.toml: must be a number"):
        load_settings({"LEDGER_CONFIG": str(wrong)})


def test_secrets_are_never_echoed_in_errors_or_repr() -> None:
    settings = load_settings({"MAGIC_HOUR_API_KEY": "mh-secret", "LEDGER_ADMIN_TOKEN": "adm-tok"})
    assert "mh-secret" not in repr(settings) and "adm-tok" not in repr(settings)
    assert settings.secrets() == ["mh-secret", "adm-tok"]


@pytest.mark.parametrize(
    ("variable", "too_big", "ceiling"),
    [
        ("LEDGER_UPSTREAM_TIMEOUT", "1e300", "3600"),
        ("LEDGER_POLL_INTERVAL", "1e300", "3600"),
        ("LEDGER_UNKNOWN_HOLD_HOURS", "2e7", "8760"),
        ("LEDGER_POLL_RATE", "1e6", "10000"),
        ("LEDGER_USD_PER_CREDIT", "1e300", "1000"),
        ("LEDGER_DATABASE_POOL_SIZE", "1000", "100"),
    ],
)
def test_every_number_has_a_ceiling(variable, too_big, ceiling) -> None:
    with pytest.raises(SettingsError) as bad:
        load_settings({variable: too_big})
    assert str(bad.value) == f"{variable}: must be at most {ceiling}, got {too_big!r}"
    assert load_settings({variable: ceiling})  # the ceiling itself is allowed


def test_a_setting_over_its_ceiling_stops_ledger_in_one_line(tmp_path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "LEDGER_STATE_DIR": str(tmp_path)}
    env["LEDGER_UPSTREAM_TIMEOUT"] = "1e300"
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "ledger: bad setting: LEDGER_UPSTREAM_TIMEOUT: must be at most 3600, got '1e300'"
    ]


def test_the_metrics_token_is_a_secret() -> None:
    settings = load_settings({"LEDGER_METRICS_TOKEN": "scrape-tok"})
    assert settings.metrics_token == "scrape-tok"
    assert "scrape-tok" not in repr(settings) and settings.secrets() == ["scrape-tok"]

"""Settings: every bad variable named at once, secrets never echoed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.settings import SettingsError, load_settings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CFLOW_POLL_INTERVAL", raising=False)
    settings = load_settings(None)
    assert str(settings.cflow_base_url) == "https://us.cflowapps.com/"
    assert settings.slack_api_base == "https://slack.com/api/"
    assert settings.port == 3000
    assert settings.database_url.startswith("sqlite:")


def test_reads_the_documented_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    env = {
        "CFLOW_BASE_URL": "http://127.0.0.1:8081",
        "CFLOW_API_KEY": "account-key",
        "CFLOW_USERNAME": "svc",
        "CFLOW_USER_KEY": "svc-key",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "shh",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_API_URL": "http://127.0.0.1:9000/api",
        "CFLOW_NOTIFY_CHANNEL": "C0123",
        "CFLOW_POLL_INTERVAL": "0.5",
        "DATABASE_URL": "postgres://u@h/db",
        "CFLOW_BOT_SECRET_KEY": f"{key}, {Fernet.generate_key().decode()}",
        "CFLOW_BOT_ADMINS": "U012ABC, U034DEF",
        "PORT": "8080",
        "LOG_LEVEL": "debug",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert settings.cflow_poll_interval == 0.5
    assert settings.cflow_bot_admins == ["U012ABC", "U034DEF"]
    assert settings.secret_keys[0] == key and len(settings.secret_keys) == 2
    assert settings.slack_api_base == "http://127.0.0.1:9000/api/"
    assert settings.log_level == "DEBUG"
    creds = settings.service_credentials()
    assert creds.headers() == {"apikey": "account-key", "username": "svc", "userkey": "svc-key"}


def test_every_malformed_variable_is_named_without_its_value() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            None,
            cflow_poll_interval="soon",
            slack_bot_token="xoxp-user-token-secret",
            cflow_bot_admins="U012ABC,bob",
            cflow_bot_secret_key="not-a-key-secret",
            port="99999",
            database_url="mysql://x",
            cflow_base_url="not a url",
            cflow_hook_secret="short-hook-secret",
            cflow_remind_max="0",
        )
    problems = caught.value.problems
    assert set(problems) == {
        "CFLOW_POLL_INTERVAL",
        "SLACK_BOT_TOKEN",
        "CFLOW_BOT_ADMINS",
        "CFLOW_BOT_SECRET_KEY",
        "PORT",
        "DATABASE_URL",
        "CFLOW_BASE_URL",
        "CFLOW_HOOK_SECRET",
        "CFLOW_REMIND_MAX",
    }
    text = str(caught.value)
    assert "xoxp-user-token-secret" not in text and "not-a-key-secret" not in text
    assert "short-hook-secret" not in text and "at least 24" in problems["CFLOW_HOOK_SECRET"]
    assert "should start with xoxb-" in problems["SLACK_BOT_TOKEN"]


def test_require_names_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CFLOW_API_KEY", "CFLOW_USERNAME", "CFLOW_USER_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(None, cflow_username="svc")
    with pytest.raises(SettingsError) as caught:
        settings.service_credentials()
    assert set(caught.value.problems) == {"CFLOW_API_KEY", "CFLOW_USER_KEY"}


def test_secrets_stay_out_of_reprs() -> None:
    settings = load_settings(None, cflow_api_key="top-secret", slack_bot_token="xoxb-secret")
    assert "top-secret" not in repr(settings) and "xoxb-secret" not in repr(settings)
    assert "top-secret" not in repr(settings.model_copy(update={"cflow_username": "x"}))


def test_env_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CFLOW_USERNAME", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("CFLOW_USERNAME=from-file\nPORT=4000\n")
    settings = load_settings(env_file)
    assert settings.cflow_username == "from-file" and settings.port == 4000


def test_request_links_follow_the_template_or_open_cflow() -> None:
    plain = load_settings(None, cflow_base_url="https://eu.cflowapps.com")
    assert plain.request_url("1002", "7") == "https://eu.cflowapps.com/"
    templated = load_settings(
        None, cflow_request_url="https://eu.cflowapps.com/r/{workflow_id}/{request_id}"
    )
    assert templated.request_url("10 02", "7/8") == "https://eu.cflowapps.com/r/10%2002/7%2F8"
    with pytest.raises(SettingsError) as caught:
        load_settings(None, cflow_request_url="https://x/{other}")
    assert "CFLOW_REQUEST_URL" in caught.value.problems


def test_the_hook_secret_and_the_metrics_token_are_masked_secrets() -> None:
    settings = load_settings(
        None, cflow_hook_secret="h" * 24 + "-hook", metrics_token="m" * 16 + "-metrics"
    )
    assert {"h" * 24 + "-hook", "m" * 16 + "-metrics"} <= set(settings.secret_values())
    with pytest.raises(SettingsError) as caught:
        load_settings(None, metrics_token="short-token")
    assert "at least 16" in caught.value.problems["METRICS_TOKEN"]
    assert "short-token" not in str(caught.value)
    assert load_settings(None, metrics_token="").metrics_token is None


def test_trusted_proxies_are_addresses_or_networks() -> None:
    settings = load_settings(None, cflow_trusted_proxies="10.0.0.0/8, 192.168.1.5,::1")
    assert [str(n) for n in settings.cflow_trusted_proxies] == [
        "10.0.0.0/8",
        "192.168.1.5/32",
        "::1/128",
    ]
    assert load_settings(None).cflow_trusted_proxies == []
    with pytest.raises(SettingsError) as caught:
        load_settings(None, cflow_trusted_proxies="10.0.0.0/8,proxy.internal,10.0.0.0/33")
    problem = caught.value.problems["CFLOW_TRUSTED_PROXIES"]
    assert "not IP addresses or networks: proxy.internal, 10.0.0.0/33" in problem

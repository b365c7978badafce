from pathlib import Path

import pytest

from launcher.processes import banner, caredesk_stages
from launcher.settings import Settings

SECRETS = {"RASA_TOKEN": "rasa-token-value", "CAREDESK_CHANNEL_SECRET": "channel-secret-value",
           "ACTION_SERVER_TOKEN": "action-token-value"}


def settings(**overrides: str) -> Settings:
    return Settings.from_env({"RASA_PROCESSES": "2", "RASA_PORT": "7005", "ACTION_PORT": "7055",
                              "GATEWAY_PORT": "7000", "CAREDESK_LOG_DIR": "/tmp/logs", **overrides})


def test_three_stages_and_each_process_gets_only_its_secrets() -> None:
    (actions,), rasa, (gateway,) = caredesk_stages(settings(), {"PATH": "/usr/bin", **SECRETS})
    assert [spec.name for spec in rasa] == ["rasa", "rasa-1"]
    assert [spec.health_url for spec in rasa] == ["http://127.0.0.1:7005/", "http://127.0.0.1:7006/"]
    assert actions.health_url == "http://127.0.0.1:7055/health"
    assert gateway.health_url == "http://127.0.0.1:7000/health"
    for spec in (actions, *rasa, gateway):
        assert not set(SECRETS.values()) & set(spec.argv), spec.name
    assert set(SECRETS) & set(actions.env) == {"ACTION_SERVER_TOKEN"}
    assert all(set(SECRETS) <= set(spec.env) for spec in rasa)
    assert set(SECRETS) & set(gateway.env) == {"RASA_TOKEN", "CAREDESK_CHANNEL_SECRET"}
    assert gateway.env["RASA_URL"] == "http://127.0.0.1:7005,http://127.0.0.1:7006"


def test_the_banner_names_no_secret_and_points_at_the_logs() -> None:
    text = banner(settings(), {**SECRETS, "TELEGRAM_TOKEN": ""})
    assert not any(value in text for value in SECRETS.values())
    assert "Press Ctrl-C to stop." in text and f"{Path('/tmp/logs')}/supervisor.log" in text


def test_bad_numbers_are_refused_with_the_settings_name() -> None:
    with pytest.raises(ValueError, match="CAREDESK_LOG_MAX_MB"):
        Settings.from_env({"CAREDESK_LOG_MAX_MB": "ten"})

"""Settings come from HASHGATE_* variables, fail at start when wrong, and never show secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from streams.errors import ConfigurationError
from streams.settings import (
    DeliveryMode,
    SaslMechanism,
    SecurityProtocol,
    load_settings,
)

pytestmark = pytest.mark.unit

SUBSCRIPTION_KEY = "pdna-key-7f3a9c"
SASL_PASSWORD = "sasl-pw-91be2d"
NCMEC_PASSWORD = "ncmec-pw-c04d11"
SECRETS = (SUBSCRIPTION_KEY, SASL_PASSWORD, NCMEC_PASSWORD)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the HASHGATE_* variables it sets itself."""
    for name in list(os.environ):
        if name.upper().startswith("HASHGATE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def sasl_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHGATE_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("HASHGATE_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("HASHGATE_KAFKA__SASL_USERNAME", "hashgate")
    monkeypatch.setenv("HASHGATE_KAFKA__SASL_PASSWORD", SASL_PASSWORD)


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, sasl_env: None) -> None:
    monkeypatch.setenv("HASHGATE_PHOTODNA__SUBSCRIPTION_KEY", SUBSCRIPTION_KEY)
    monkeypatch.setenv("HASHGATE_PHOTODNA__NCMEC_USERNAME", "org-user")
    monkeypatch.setenv("HASHGATE_PHOTODNA__NCMEC_PASSWORD", NCMEC_PASSWORD)


def _config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return str(caught.value)


def test_defaults_load_without_any_environment() -> None:
    settings = load_settings()
    assert settings.kafka.servers == ["127.0.0.1:9092"]
    assert settings.kafka.security_protocol is SecurityProtocol.PLAINTEXT
    assert settings.topics.uploads == "content.uploads"
    assert settings.photodna.subscription_key is None
    assert str(settings.photodna.endpoint) == "https://api.microsoftmoderator.com/photodna/v1.0"
    assert settings.media.delivery_mode is DeliveryMode.URL
    assert settings.scan.max_in_flight == 64
    assert settings.web.port is None and settings.web.port_of("worker") == 6066


def test_prefixed_and_nested_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHGATE_KAFKA__BOOTSTRAP_SERVERS", "k1:9092, k2:9092")
    monkeypatch.setenv("HASHGATE_TOPICS__UPLOADS", "platform.uploads")
    monkeypatch.setenv("HASHGATE_PHOTODNA__ENDPOINT", "http://simulator:8000/photodna/v1.0")
    monkeypatch.setenv("HASHGATE_PHOTODNA__ENHANCE", "true")
    monkeypatch.setenv("HASHGATE_MEDIA__DELIVERY_MODE", "bytes")
    monkeypatch.setenv("HASHGATE_MEDIA__ALLOW_HOSTS", '["cdn.internal", "10.0.0.0/8"]')
    monkeypatch.setenv("HASHGATE_SCAN__MAX_IN_FLIGHT", "8")
    monkeypatch.setenv("hashgate_web__port", "9100")  # names are case-insensitive
    monkeypatch.setenv("HASHGATE_LOG_LEVEL", "DEBUG")

    settings = load_settings()

    assert settings.kafka.servers == ["k1:9092", "k2:9092"]
    assert settings.topics.uploads == "platform.uploads"
    assert settings.photodna.endpoint.host == "simulator"
    assert settings.photodna.enhance is True
    assert settings.media.delivery_mode is DeliveryMode.BYTES
    assert settings.media.allow_hosts == ["cdn.internal", "10.0.0.0/8"]
    assert settings.scan.max_in_flight == 8
    assert settings.web.port == 9100
    assert settings.log_level == "DEBUG"


def test_sasl_settings_are_read(sasl_env: None) -> None:
    kafka = load_settings().kafka
    assert kafka.security_protocol is SecurityProtocol.SASL_PLAINTEXT
    assert kafka.sasl_mechanism is SaslMechanism.SCRAM_SHA_512
    assert kafka.sasl_username == "hashgate"
    assert kafka.sasl_password is not None
    assert kafka.sasl_password.get_secret_value() == SASL_PASSWORD


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.scan.max_in_flight = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HASHGATE_SCAN__MAX_IN_FLIGHT": "0"}, "HASHGATE_SCAN__MAX_IN_FLIGHT"),
        ({"HASHGATE_SCAN__MAX_IN_FLIGHT": "many"}, "HASHGATE_SCAN__MAX_IN_FLIGHT"),
        ({"HASHGATE_KAFKA__SECURITY_PROTOCOL": "BOGUS"}, "HASHGATE_KAFKA__SECURITY_PROTOCOL"),
        ({"HASHGATE_PHOTODNA__KEY_QUOTA_RPS": "-1"}, "HASHGATE_PHOTODNA__KEY_QUOTA_RPS"),
        ({"HASHGATE_PHOTODNA__ENDPOINT": "not a url"}, "HASHGATE_PHOTODNA__ENDPOINT"),
        ({"HASHGATE_WEB__PORT": "70000"}, "HASHGATE_WEB__PORT"),
        ({"HASHGATE_LOG_LEVEL": "CHATTY"}, "HASHGATE_LOG_LEVEL"),
        ({"HASHGATE_SCAN__MAX_INFLIGHT": "8"}, "HASHGATE_SCAN__MAX_INFLIGHT"),
        ({"HASHGATE_KAFKA__SSL_CAFILE": "/nonexistent/ca.pem"}, "HASHGATE_KAFKA__SSL_CAFILE"),
        ({"HASHGATE_KAFKA__SSL_KEYFILE": "/nonexistent/k.pem"}, "HASHGATE_KAFKA__SSL_KEYFILE"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    assert named in _config_error(monkeypatch, **env)


def test_the_old_per_worker_rate_says_what_replaced_it(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _config_error(monkeypatch, HASHGATE_PHOTODNA__RATE_LIMIT_RPS="5")
    assert "HASHGATE_PHOTODNA__KEY_QUOTA_RPS" in message and "whole quota" in message


def test_a_missing_ca_file_says_which_file(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _config_error(monkeypatch, HASHGATE_KAFKA__SSL_CAFILE="/nonexistent/ca.pem")
    assert "no such file: /nonexistent/ca.pem" in message


def test_sasl_without_password_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _config_error(
        monkeypatch,
        HASHGATE_KAFKA__SECURITY_PROTOCOL="SASL_SSL",
        HASHGATE_KAFKA__SASL_MECHANISM="PLAIN",
        HASHGATE_KAFKA__SASL_USERNAME="hashgate",
    )
    assert "HASHGATE_KAFKA__SASL_PASSWORD" in message


def test_sasl_without_mechanism_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _config_error(
        monkeypatch,
        HASHGATE_KAFKA__SECURITY_PROTOCOL="SASL_PLAINTEXT",
        HASHGATE_KAFKA__SASL_USERNAME="hashgate",
        HASHGATE_KAFKA__SASL_PASSWORD=SASL_PASSWORD,
    )
    assert "HASHGATE_KAFKA__SASL_MECHANISM" in message


def test_malformed_json_list_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _config_error(monkeypatch, HASHGATE_MEDIA__ALLOW_HOSTS="cdn.internal")
    assert "media" in message
    assert "JSON" in message


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _config_error(monkeypatch, HASHGATE_SCAN__MAX_IN_FLIGHT="0", HASHGATE_WEB__PORT="-1")
    assert "HASHGATE_SCAN__MAX_IN_FLIGHT" in message
    assert "HASHGATE_WEB__PORT" in message


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_secrets_never_show_in_repr_str_or_dumps(secrets_env: None) -> None:
    settings = load_settings()
    assert settings.photodna.subscription_key is not None
    assert settings.photodna.subscription_key.get_secret_value() == SUBSCRIPTION_KEY

    _assert_no_secret(repr(settings))
    _assert_no_secret(str(settings))
    dumped_json = settings.model_dump_json()
    _assert_no_secret(dumped_json)
    _assert_no_secret(str(settings.model_dump()))
    _assert_no_secret(repr(settings.kafka))
    assert dumped_json.count('"**********"') == len(SECRETS)


@pytest.mark.parametrize(
    "bad",
    [
        {"HASHGATE_KAFKA__SECURITY_PROTOCOL": "BOGUS"},
        {"HASHGATE_SCAN__MAX_IN_FLIGHT": "0"},
        {"HASHGATE_PHOTODNA__MAX_CONNECTIONS": "none"},
        {"HASHGATE_MEDIA__ALLOW_HOSTS": "{broken"},
    ],
)
def test_secrets_never_show_in_validation_errors(
    monkeypatch: pytest.MonkeyPatch, secrets_env: None, bad: dict[str, str]
) -> None:
    message = _config_error(monkeypatch, **bad)
    _assert_no_secret(message)


def test_a_secret_with_a_bad_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the secret's own group is the invalid one, the message carries no value."""
    group = {"sasl_password": SASL_PASSWORD, "security_protocol": "BOGUS", "bogus": 1}
    monkeypatch.setenv("HASHGATE_KAFKA", json.dumps(group))
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    _assert_no_secret(str(caught.value))
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_overrides_are_validated_like_the_environment() -> None:
    with pytest.raises(ConfigurationError, match="HASHGATE_SCAN__MAX_IN_FLIGHT"):
        load_settings(scan={"max_in_flight": 0})


def test_a_real_ca_file_is_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("placeholder; only existence is checked here\n")
    monkeypatch.setenv("HASHGATE_KAFKA__SSL_CAFILE", str(cafile))
    assert load_settings().kafka.ssl_cafile == cafile


def test_a_misspelt_group_fails_naming_the_variable_and_the_group_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _config_error(monkeypatch, HASHGATE_SCANN__MAX_IN_FLIGHT="4")
    assert "HASHGATE_SCANN__MAX_IN_FLIGHT: no settings group 'scann' (did you mean 'scan'?)" in (
        message
    )


def test_an_unknown_group_lists_the_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _config_error(monkeypatch, HASHGATE_ZZZ__X="1")
    assert (
        "HASHGATE_ZZZ__X: no settings group 'zzz' (groups: banks, cache, kafka, log_level"
        in message
    )


def test_other_tools_variables_with_the_prefix_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HASHGATE_SIMULATOR_KEYS", "a,b")
    assert load_settings().scan.max_in_flight == 64


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("HASHGATE_REVIEW__TRUSTED_PROXIES", '["10.0.0.0/8", "proxy.local"]', "not an IP"),
        ("HASHGATE_REVIEW__SESSION_SECRET", "short", "at least 32 characters"),
    ],
)
def test_review_desk_settings_are_checked_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message and problem in message
    if "SECRET" in variable:
        assert value not in message


def test_a_cache_that_would_drop_clears_before_their_age_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _config_error(monkeypatch, HASHGATE_CACHE__KEEP_S="3600")
    assert "cache.keep_s" in message and "cache.clear_max_age_s" in message

"""Configuration: read from the environment, secrets masked, production refuses to start bare."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, load_settings

PRODUCTION = {
    "PAYLINK_ENV": "production",
    "DATABASE_URL": "postgresql://paylink:db-password-1@db:5432/paylink",
    "REDIS_URL": "redis://:redis-password-1@redis:6379/0",
    "JWT_SECRET_KEY": "j" * 40,
    "VTPASS_BASE_URL": "https://sandbox.vtpass.com/api",
    "VTPASS_API_KEY": "api-key-secret",
    "VTPASS_PUBLIC_KEY": "PK_public-secret",
    "VTPASS_SECRET_KEY": "SK_secret-secret",
    "VTPASS_CALLBACK_TOKEN": "callback-token-secret-" + "c" * 20,
    "VTPASS_MODE": "live",
    "PAYLINK_METRICS_TOKEN": "metrics-token-secret-" + "m" * 20,
}


def test_fixed_names_are_read():
    settings = load_settings(
        {
            **PRODUCTION,
            "PORT": "9000",
            "VTPASS_MODE": "live",
            "PAYLINK_WEBHOOK_ALLOW_PRIVATE": "1",
            "PAYLINK_REQUERY_DELAYS": "1,2.5",
        }
    )
    assert settings.port == 9000 and not settings.sandbox
    assert settings.webhook_allow_private
    assert settings.requery_delays == (1.0, 2.5)


def test_repr_masks_every_secret():
    shown = repr(load_settings(PRODUCTION))
    for secret in (
        "db-password-1",
        "redis-password-1",
        "j" * 40,
        "api-key-secret",
        "PK_public-secret",
        "SK_secret-secret",
        "callback-token-secret",
        "metrics-token-secret",
    ):
        assert secret not in shown
    assert "sandbox.vtpass.com" in shown


@pytest.mark.parametrize(
    "missing",
    [
        "JWT_SECRET_KEY",
        "VTPASS_SECRET_KEY",
        "DATABASE_URL",
        "VTPASS_CALLBACK_TOKEN",
        "PAYLINK_METRICS_TOKEN",
    ],
)
def test_production_refuses_to_start_without_secrets(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(env).validate()


def test_production_needs_a_long_jwt_key_and_a_known_mode():
    with pytest.raises(ConfigError):
        load_settings({**PRODUCTION, "JWT_SECRET_KEY": "short"}).validate()
    with pytest.raises(ConfigError):
        load_settings({**PRODUCTION, "VTPASS_MODE": "test"}).validate()
    load_settings(PRODUCTION).validate()


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"PAYLINK_WEBHOOK_ALLOW_PRIVATE": "1"}, "PAYLINK_WEBHOOK_ALLOW_PRIVATE"),
        ({"VTPASS_MODE": ""}, "VTPASS_MODE must be set"),
        ({"VTPASS_CALLBACK_TOKEN": "c" * 31}, "VTPASS_CALLBACK_TOKEN must be at least 32"),
        ({"PAYLINK_METRICS_TOKEN": "m" * 31}, "PAYLINK_METRICS_TOKEN must be at least 32"),
    ],
)
def test_production_refuses_unsafe_settings(change, complaint):
    with pytest.raises(ConfigError, match=complaint):
        load_settings({**PRODUCTION, **change}).validate()


def test_an_unset_vtpass_mode_is_refused_in_production_only():
    env = {k: v for k, v in PRODUCTION.items() if k != "VTPASS_MODE"}
    with pytest.raises(ConfigError, match="VTPASS_MODE must be set"):
        load_settings(env).validate()
    development = load_settings({"PAYLINK_ENV": "development"})
    development.validate()
    assert development.sandbox


@pytest.mark.parametrize("typo", ["prod", "Production", "production ", "test", "staging"])
def test_an_unknown_environment_name_is_refused(typo):
    # A typo must not quietly run production without production's checks.
    with pytest.raises(ConfigError, match="PAYLINK_ENV"):
        load_settings({**PRODUCTION, "PAYLINK_ENV": typo}).validate()


def test_app_factory_refuses_bad_production_config():
    from api import create_app

    with pytest.raises(ConfigError):
        create_app(load_settings({"PAYLINK_ENV": "production"}))


def test_sandbox_numbers_only_in_sandbox_mode(make_user, fund, buy, runtime, monkeypatch):
    user = make_user()
    fund(user, "1000")
    assert buy(user, service_id="mtn", phone="201000000000", amount=100).status_code == 202
    live = runtime.settings.with_overrides(vtpass_mode="live")
    monkeypatch.setattr(runtime, "settings", live)
    response = buy(user, service_id="mtn", phone="201000000000", amount=100)
    assert response.status_code == 422
    assert "phone" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("grace", [1.0, 600.0])
def test_a_015_is_trusted_no_sooner_than_the_processing_lease(settings, grace):
    """A pay still inside its call (connect + read + margin) may yet reach VTPass: a 015
    before the lease ends proves nothing, so the grace never falls below the lease."""
    from shared.runtime import Runtime

    runtime = Runtime(settings.with_overrides(not_found_grace_s=grace))
    timing = runtime.timing
    runtime.close()
    assert timing.not_found_grace >= timing.processing_lease
    assert timing.not_found_grace.total_seconds() == max(grace, 4.0)


@pytest.mark.parametrize("deadline", [0.0, 90.0])
def test_the_processing_lease_outlasts_the_whole_call_deadline(settings, deadline):
    """A pay cannot leave after its call deadline; the lease covers it with a margin, and a
    015 is trusted no sooner than the lease."""
    from shared.runtime import Runtime

    changed = settings.with_overrides(vtpass_call_deadline_s=deadline, processing_margin_s=5.0)
    runtime = Runtime(changed)
    timing, client = runtime.timing, runtime.vtpass
    runtime.close()
    expected = deadline or changed.vtpass_connect_timeout + changed.vtpass_read_timeout
    assert client.deadline == expected
    assert timing.processing_lease.total_seconds() == expected + 5.0
    assert timing.not_found_grace >= timing.processing_lease


@pytest.mark.parametrize(
    "bad", [{"VTPASS_CALL_DEADLINE_S": "-1"}, {"PAYLINK_PROCESSING_MARGIN_S": "0"}]
)
def test_a_lease_that_could_end_inside_a_call_is_refused(bad):
    with pytest.raises(ConfigError, match="DEADLINE"):
        load_settings(bad).validate()
    load_settings({"VTPASS_CALL_DEADLINE_S": "40"}).validate()

"""Sessions end when they should: password change, logout everywhere, an admin reset by
bootstrap; passwords on the common list are refused; tokens carry and need iss and aud.
"""

from __future__ import annotations

import jwt as pyjwt
import pytest

from tests.conftest import login


def code(response):
    return response.get_json()["error"]["code"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client, token: str):
    return client.get("/api/v1/me", headers=bearer(token))


def refresh(client, token: str):
    return client.post("/api/v1/auth/refresh", headers=bearer(token))


def test_changing_the_password_ends_every_other_session(client, make_user):
    user = make_user()
    other = login(client, user.email, user.password)  # say, a stolen laptop
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": user.password, "new_password": "a-brand-new-secret-7"},
        headers=user.headers,
    )
    assert changed.status_code == 204, changed.get_json()
    assert (
        me(client, other["access_token"]).status_code,
        code(me(client, other["access_token"])),
    ) == (
        401,
        "token_revoked",
    )
    assert refresh(client, other["refresh_token"]).status_code == 401
    # The session that changed it goes on.
    assert me(client, user.access_token).status_code == 200
    assert refresh(client, user.refresh_token).status_code == 200
    old = client.post("/api/v1/auth/login", json={"email": user.email, "password": user.password})
    assert old.status_code == 401
    login(client, user.email, "a-brand-new-secret-7")


def test_a_password_change_needs_the_current_password_and_a_strong_new_one(client, make_user):
    user = make_user()
    other = login(client, user.email, user.password)
    wrong = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-it-at-all-1", "new_password": "a-brand-new-secret-7"},
        headers=user.headers,
    )
    assert (wrong.status_code, code(wrong)) == (401, "invalid_credentials")
    weak = client.post(
        "/api/v1/auth/password",
        json={"current_password": user.password, "new_password": "1q2w3e4r5t"},
        headers=user.headers,
    )
    assert weak.status_code == 422 and "new_password" in weak.get_json()["error"]["fields"]
    # Nothing changed: the other session still works.
    assert me(client, other["access_token"]).status_code == 200


def test_logout_all_ends_every_session_of_the_account(client, make_user):
    user = make_user()
    other = login(client, user.email, user.password)
    bystander = make_user()
    assert client.post("/api/v1/auth/logout-all", headers=user.headers).status_code == 204
    for tokens in (
        (user.access_token, user.refresh_token),
        (other["access_token"], other["refresh_token"]),
    ):
        assert code(me(client, tokens[0])) == "token_revoked"
        assert refresh(client, tokens[1]).status_code == 401
    assert me(client, bystander.access_token).status_code == 200
    login(client, user.email, user.password)  # a new login works


def test_resetting_the_admins_password_by_bootstrap_ends_its_sessions(client, runtime):
    import uuid

    from shared import sessions
    from shared.users import ensure_admin

    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    ensure_admin(runtime.db, email=email, password="first-operator-pw-1")
    held = login(client, email, "first-operator-pw-1")

    def end(families):
        sessions.blocklist(runtime.redis, families=families, ttl=_lifetime(runtime))

    # Running the release step again with the same password keeps the session.
    ensure_admin(runtime.db, email=email, password="first-operator-pw-1", end_sessions=end)
    assert me(client, held["access_token"]).status_code == 200
    ensure_admin(runtime.db, email=email, password="second-operator-pw-2", end_sessions=end)
    assert code(me(client, held["access_token"])) == "token_revoked"
    assert refresh(client, held["refresh_token"]).status_code == 401
    login(client, email, "second-operator-pw-2")


def _lifetime(runtime):
    from datetime import timedelta

    return timedelta(minutes=runtime.settings.jwt_access_minutes + 1)


@pytest.mark.parametrize("password", ["1q2w3e4r5t", "q1w2e3r4t5y6", "passer2009", "PASSER2009"])
def test_common_passwords_are_refused(client, password):
    response = client.post(
        "/api/v1/auth/register", json={"email": "c@example.com", "password": password}
    )
    assert response.status_code == 422
    assert "common" in response.get_json()["error"]["fields"]["password"]


def test_the_common_password_list_is_of_realistic_size():
    from shared.users import common_passwords

    assert len(common_passwords()) > 19_000


@pytest.mark.parametrize(
    "claims",
    [
        {},  # neither
        {"iss": "paylink"},  # no audience
        {"aud": "paylink-api"},  # no issuer
        {"iss": "someone-else", "aud": "paylink-api"},
        {"iss": "paylink", "aud": "another-api"},
    ],
)
def test_tokens_must_carry_our_issuer_and_audience(client, make_user, settings, claims):
    import time

    user = make_user()
    now = int(time.time())
    payload = {
        "sub": user.id, "jti": "j-" + user.id, "type": "access", "fresh": False,
        "iat": now, "nbf": now, "exp": now + 300, "role": "user", "fam": "f", **claims,
    }  # fmt: skip
    token = pyjwt.encode(payload, settings.jwt_secret_key, algorithm="HS256")
    response = me(client, token)
    assert (response.status_code, code(response)) == (401, "token_invalid")


def test_issued_tokens_carry_issuer_and_audience(make_user, settings):
    user = make_user()
    claims = pyjwt.decode(
        user.access_token, settings.jwt_secret_key, algorithms=["HS256"], audience="paylink-api"
    )
    assert (claims["iss"], claims["aud"]) == ("paylink", "paylink-api")

"""Auth: register, login, refresh rotation, logout revocation, and every JWT failure."""

from __future__ import annotations

import pytest


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def test_register_login_and_me(client, make_user):
    user = make_user()
    me = client.get("/api/v1/me", headers=user.headers)
    assert me.status_code == 200
    assert me.get_json() == {"id": user.id, "email": user.email, "role": "user"}


def test_register_rejects_weak_password_and_duplicate_email(client, make_user):
    weak = client.post("/api/v1/auth/register", json={"email": "a@b.co", "password": "short"})
    assert weak.status_code == 422
    assert "password" in weak.get_json()["error"]["fields"]
    user = make_user()
    again = client.post(
        "/api/v1/auth/register", json={"email": user.email.upper(), "password": "another-pass-99"}
    )
    assert again.status_code == 422
    assert again.get_json()["error"]["fields"] == {"email": "is already registered"}


def test_password_is_stored_hashed(runtime, make_user):
    from shared.models import User

    user = make_user()
    with runtime.db.sessions() as session:
        stored = session.get(User, user.id)
    assert user.password not in stored.password_hash
    assert stored.password_hash.startswith("$argon2")


@pytest.mark.parametrize(
    "body", [{"email": "nobody@example.com", "password": "whatever-123"}, None]
)
def test_login_with_wrong_credentials(client, make_user, body):
    user = make_user()
    body = body or {"email": user.email, "password": "wrong-password-1"}
    response = client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"


def test_token_failures_use_the_envelope(client, make_user):
    missing = client.get("/api/v1/me")
    assert (missing.status_code, error_code(missing)) == (401, "token_missing")
    garbage = client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert (garbage.status_code, error_code(garbage)) == (401, "token_invalid")
    user = make_user()
    refresh_as_access = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {user.refresh_token}"}
    )
    assert (refresh_as_access.status_code, error_code(refresh_as_access)) == (401, "token_invalid")


def test_expired_token(app, client, make_user):
    from datetime import timedelta

    from flask_jwt_extended import create_access_token

    user = make_user()
    with app.app_context():
        token = create_access_token(
            identity=user.id,
            additional_claims={"role": "user", "fam": "x"},
            expires_delta=timedelta(seconds=-5),
        )
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, error_code(response)) == (401, "token_expired")


def test_refresh_rotates_and_reuse_is_refused(client, make_user):
    user = make_user()
    first = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.refresh_token}"}
    )
    assert first.status_code == 200
    pair = first.get_json()
    assert pair["token_type"] == "Bearer" and pair["expires_in"] > 0
    assert (
        client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        ).status_code
        == 200
    )

    reused = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.refresh_token}"}
    )
    assert (reused.status_code, error_code(reused)) == (401, "token_revoked")
    # Reuse signals theft: the whole login's refresh tokens are revoked, the new one too.
    successor = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {pair['refresh_token']}"}
    )
    assert successor.status_code == 401
    # ...and so are the access tokens that login handed out.
    stolen = client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert (stolen.status_code, error_code(stolen)) == (401, "token_revoked")


def test_logout_revokes_access_and_refresh(client, make_user):
    user = make_user()
    assert client.post("/api/v1/auth/logout", headers=user.headers).status_code == 204
    after = client.get("/api/v1/me", headers=user.headers)
    assert (after.status_code, error_code(after)) == (401, "token_revoked")
    refresh = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.refresh_token}"}
    )
    assert refresh.status_code == 401


def test_revocation_fails_closed_when_redis_is_down(app, client, make_user, monkeypatch):
    import redis

    user = make_user()
    runtime = app.extensions["paylink"]

    def broken(*args, **kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(runtime.redis, "mget", broken)
    response = client.get("/api/v1/me", headers=user.headers)
    assert (response.status_code, error_code(response)) == (503, "service_unavailable")


def test_non_json_and_wrong_shapes(client):
    not_json = client.post("/api/v1/auth/login", data="{nope", content_type="application/json")
    assert (not_json.status_code, error_code(not_json)) == (400, "invalid_json")
    a_list = client.post("/api/v1/auth/login", json=[1, 2])
    assert (a_list.status_code, error_code(a_list)) == (422, "validation_error")
    wrong_type = client.post("/api/v1/auth/login", json={"email": 5, "password": None})
    assert wrong_type.status_code == 422
    assert set(wrong_type.get_json()["error"]["fields"]) == {"email", "password"}


def test_promoting_a_registered_email_to_admin_resets_its_password(client, runtime, make_user):
    from shared.users import ensure_admin

    squatter = make_user()
    ensure_admin(runtime.db, email=squatter.email, password="the-operators-own-1")
    old = client.post(
        "/api/v1/auth/login", json={"email": squatter.email, "password": squatter.password}
    )
    assert old.status_code == 401
    refresh = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {squatter.refresh_token}"}
    )
    assert refresh.status_code == 401
    new = client.post(
        "/api/v1/auth/login", json={"email": squatter.email, "password": "the-operators-own-1"}
    )
    assert new.status_code == 200

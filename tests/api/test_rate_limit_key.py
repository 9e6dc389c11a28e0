"""The limiter's key: the account of a verified token (remembered per app), else the address."""

from __future__ import annotations

import base64
import json

from api.extensions import rate_limit_key


def key_for(app, token: str) -> str:
    with app.test_request_context(
        "/api/v1/me",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    ):
        return rate_limit_key()


def forged(token: str, sub: str) -> str:
    """The token with another subject in its payload and its signature left as it was."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = sub
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def test_a_verified_token_keys_by_its_account_and_is_remembered(app, make_user):
    user = make_user()
    assert key_for(app, user.access_token) == f"user:{user.id}"
    assert user.access_token in app.extensions["paylink.verified_tokens"]
    assert key_for(app, user.access_token) == f"user:{user.id}"


def test_a_forged_token_naming_someone_else_counts_by_address(app, make_user):
    victim, attacker = make_user(), make_user()
    key_for(app, victim.access_token)  # the victim's real token is remembered
    assert key_for(app, forged(attacker.access_token, victim.id)) == "ip:198.51.100.7"
    assert key_for(app, "not-a-token") == "ip:198.51.100.7"


def test_a_remembered_token_is_still_refused_once_revoked(client, make_user):
    user = make_user()
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    assert client.post("/api/v1/auth/logout-all", headers=user.headers).status_code == 204
    refused = client.get("/api/v1/me", headers=user.headers)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (401, "token_revoked")

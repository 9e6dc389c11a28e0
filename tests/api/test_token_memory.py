"""Verified access tokens are remembered per app; expiry, revocation and forgery still count."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta

from flask_jwt_extended import create_access_token

from api import extensions
from api.extensions import jwt as manager


def test_a_token_is_verified_once_then_remembered(app, client, make_user, monkeypatch):
    user = make_user()
    checked = []
    full = type(manager).__mro__[1]._decode_jwt_from_config

    def counting(self, *args, **kwargs):
        checked.append(args[0])
        return full(self, *args, **kwargs)

    monkeypatch.setattr(type(manager).__mro__[1], "_decode_jwt_from_config", counting)
    app.extensions.get("paylink.verified_tokens", {}).pop(user.access_token, None)
    for _ in range(3):
        assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    assert checked == [user.access_token]


def test_a_remembered_token_is_refused_once_it_expires(app, client, make_user, monkeypatch):
    import jwt.api_jwt

    user = make_user()
    with app.app_context():
        short = create_access_token(identity=user.id, expires_delta=timedelta(seconds=60))
    headers = {"Authorization": f"Bearer {short}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert short in app.extensions["paylink.verified_tokens"]
    # Two minutes later, for the memory and for PyJWT alike.
    later = time.time() + 120
    monkeypatch.setattr(extensions.time, "time", lambda: later)

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(later, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    refused = client.get("/api/v1/me", headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "token_expired"


def test_a_token_remembered_by_one_app_means_nothing_to_another(app, settings, make_user):
    from api import create_app

    user = make_user()
    assert app.test_client().get("/api/v1/me", headers=user.headers).status_code == 200
    other = create_app(dataclasses.replace(settings, jwt_secret_key="another-secret-" + "y" * 32))
    refused = other.test_client().get("/api/v1/me", headers=user.headers)
    assert refused.status_code == 401
    other.extensions["paylink"].close()


def test_a_changed_signature_is_verified_afresh_and_refused(app, client, make_user):
    user = make_user()
    assert client.get("/api/v1/me", headers=user.headers).status_code == 200
    header, payload, signature = user.access_token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    refused = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {header}.{payload}.{flipped}"}
    )
    assert refused.status_code == 401

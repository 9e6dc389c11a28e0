"""Every answer says nosniff; auth, wallet and purchase answers (tokens, PINs) are no-store."""

from __future__ import annotations


def test_every_answer_forbids_mime_sniffing(client, make_user):
    user = make_user()
    for response in (
        client.get("/healthz"),
        client.get("/docs"),
        client.get("/api/v1/openapi.json"),
        client.get("/nowhere"),
        client.get("/api/v1/catalog/categories", headers=user.headers),
        client.get("/api/v1/purchases", headers=user.headers),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.request.path


def test_private_answers_are_never_stored(client, make_user, fund, buy):
    user = make_user()
    fund(user, "500")
    purchase = buy(user, service_id="mtn", phone="08011111111", amount=100)
    login = client.post("/api/v1/auth/login", json={"email": user.email, "password": user.password})
    for response in (
        login,
        client.post(
            "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {user.refresh_token}"}
        ),
        purchase,
        client.get(f"/api/v1/purchases/{purchase.get_json()['id']}", headers=user.headers),
        client.get("/api/v1/purchases", headers=user.headers),
        client.get("/api/v1/wallet", headers=user.headers),
        client.get("/api/v1/wallet/entries", headers=user.headers),
        client.get("/api/v1/wallet"),  # the 401 too
        client.get("/api/v1/me", headers=user.headers),
        client.get("/api/v1/events", headers=user.headers),
    ):
        assert response.headers.get("Cache-Control") == "no-store", response.request.path

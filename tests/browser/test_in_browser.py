"""The storefront and the console in a real browser (headless Chromium) against a running stack."""

from __future__ import annotations

import uuid

import requests
from sqlalchemy import update

from shared.models import Purchase
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import transition
from tests.browser.conftest import screenshot
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.support import wait_for

FINAL = {"delivered", "failed", "reversed"}


def api_user(stack, amount: str = "1000") -> tuple[dict[str, str], str]:
    """A funded user made through the API; return its auth headers and id."""
    email = f"b-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": "correct-horse-42"}
    user_id = requests.post(f"{stack.api}/api/v1/auth/register", json=body, timeout=10).json()["id"]
    token = requests.post(f"{stack.api}/api/v1/auth/login", json=body, timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    funded = requests.post(
        f"{stack.api}/api/v1/sandbox/wallet/fund",
        json={"amount": amount},
        headers=headers,
        timeout=10,
    )
    assert funded.status_code == 201, funded.text
    return headers, user_id


def api_buy(stack, headers, phone: str = "08011111111") -> dict:
    response = requests.post(
        f"{stack.api}/api/v1/purchases",
        json={"service_id": "mtn", "phone": phone, "amount": 100},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()


def api_status(stack, headers, purchase_id: str) -> str:
    return requests.get(
        f"{stack.api}/api/v1/purchases/{purchase_id}", headers=headers, timeout=10
    ).json()["status"]


def console_login(page, stack) -> None:
    page.goto(f"{stack.api}/console")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("#who:has-text('Signed in as')")


def test_demo_buys_airtime_and_shows_delivered_without_a_reload(stack, page):
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))
    page.goto(f"{stack.api}/demo")
    page.fill("#email", f"shopper-{uuid.uuid4().hex[:8]}@example.com")
    page.click("#login")
    page.wait_for_selector("#who:has-text('Signed in as')")
    page.click("#fund")
    page.wait_for_selector("#available:has-text('5000.00')")
    page.select_option("#category", "airtime")
    page.wait_for_selector("#service option[value='mtn']", state="attached")
    page.select_option("#service", "mtn")
    page.fill("#phone", "08011111111")
    page.fill("#amount", "100")
    page.evaluate("window.__samePage = true")
    page.click("#buy")
    page.wait_for_selector("#status[data-status='delivered']")
    assert page.evaluate("window.__samePage") is True  # no reload happened
    timeline = page.locator("#timeline li").all_inner_texts()
    assert [t.split(" ")[0] for t in timeline] == ["queued", "processing", "delivered"]
    assert page.locator("#available").inner_text() == "4900.00"
    assert page.locator("#receipt").is_visible()
    purchase_id = page.locator("#purchase-id").inner_text()
    # The status came over the stream process, not by polling the purchase.
    assert f"{stack.stream}/api/v1/purchases/{purchase_id}/stream" in requests_seen
    assert not [u for u in requests_seen if u.endswith(f"/api/v1/purchases/{purchase_id}")]
    screenshot(page, "demo")


def test_console_finds_a_purchase_and_shows_its_vtpass_exchange(stack, page):
    headers, _ = api_user(stack)
    purchase = api_buy(stack, headers)
    wait_for(
        lambda: api_status(stack, headers, purchase["id"]) in FINAL, timeout=30, what="settled"
    )
    console_login(page, stack)
    page.fill("#q", purchase["request_id"])
    page.click("#search-form button")
    page.wait_for_selector(f"#detail-id:has-text('{purchase['id']}')")
    assert page.locator("#detail-status").inner_text() == "delivered"
    exchange = page.locator("#exchanges details").first
    assert "vtpass.pay" in exchange.locator("summary").inner_text()
    assert purchase["request_id"] in exchange.locator("pre").inner_text()
    assert page.locator("#ledger tbody tr").count() == 2  # hold, capture
    screenshot(page, "console")


def test_console_resolves_a_purchase_in_review(stack, page, runtime):
    headers, _ = api_user(stack)
    purchase = api_buy(stack, headers, phone="201000000000")  # VTPass sandbox: stays pending
    wait_for(
        lambda: api_status(stack, headers, purchase["id"]) == "pending", timeout=30, what="pending"
    )
    with runtime.db.transaction() as session:
        row = session.get(Purchase, purchase["id"])
        assert transition(
            session,
            row,
            S.REVIEW,
            expected=S.PENDING,
            reason="test: past the deadline",
            actor="test",
        )
        session.execute(update(Purchase).where(Purchase.id == row.id).values(next_attempt_at=None))
    console_login(page, stack)
    page.wait_for_selector(f"#review a:has-text('{purchase['id']}')").click()
    page.wait_for_selector("#detail-status[data-status='review']")
    screenshot(page, "console-review")
    page.select_option("#resolve-status", "failed")
    page.fill("#resolve-note", "VTPass support: never delivered")
    page.click("#resolve-form button")
    page.wait_for_selector("#detail-status[data-status='failed']")
    assert api_status(stack, headers, purchase["id"]) == "failed"
    # The detail and the review queue refresh side by side: wait for the queue to drop it.
    page.wait_for_selector(f"#review a:has-text('{purchase['id']}')", state="detached")


def test_a_listed_other_origin_can_log_in_and_buy_and_an_unlisted_one_cannot(stack, page):
    headers, _ = api_user(stack)
    email = f"x-{uuid.uuid4().hex[:8]}@example.com"
    requests.post(
        f"{stack.api}/api/v1/auth/register",
        json={"email": email, "password": "correct-horse-42"},
        timeout=10,
    )
    script = """async ([api, email]) => {
        const json = (r) => r.json().then((body) => ({status: r.status, body}));
        const login = await fetch(`${api}/api/v1/auth/login`, {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({email, password: "correct-horse-42"})}).then(json);
        const auth = {Authorization: `Bearer ${login.body.access_token}`};
        await fetch(`${api}/api/v1/sandbox/wallet/fund`, {method: "POST",
            headers: {...auth, "Content-Type": "application/json"},
            body: JSON.stringify({amount: "500"})});
        const bought = await fetch(`${api}/api/v1/purchases`, {method: "POST",
            headers: {...auth, "Content-Type": "application/json",
                      "Idempotency-Key": crypto.randomUUID()},
            body: JSON.stringify({service_id: "mtn", phone: "08011111111", amount: 100})});
        return {login: login.status, status: bought.status,
                location: bought.headers.get("Location"), body: await bought.json()};
    }"""
    page.goto(stack.other_origin + "/index.html")
    result = page.evaluate(script, [stack.api, email])
    assert (result["login"], result["status"]) == (200, 202)
    assert result["location"] == f"/api/v1/purchases/{result['body']['id']}"  # exposed header
    page.goto(stack.unlisted_origin + "/index.html")
    refused = page.evaluate(
        """async (api) => { try { await fetch(`${api}/api/v1/auth/login`, {method: "POST",
             headers: {"Content-Type": "application/json"}, body: "{}"}); return "answered"; }
           catch (e) { return e.name; } }""",
        stack.api,
    )
    assert refused == "TypeError"  # the browser withheld the response: CORS refused it

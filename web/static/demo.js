// The sandbox storefront: sign up, fund, browse, verify, buy, and watch the status arrive live.
// Everything here is the public PayLink API (see /docs); paylink.js holds the two helpers.
import { api, followPurchase } from "./paylink.js";

const $ = (id) => document.getElementById(id);
const streamBase = document.querySelector('meta[name="paylink-stream-url"]').content;
let token = null; // the access token; a real app keeps the refresh token too

// Show any API error's message (the `code` is there for code to branch on).
function failed(error) {
  $("error").textContent = error.code ? `${error.code}: ${error.message}` : String(error);
}
const guarded = (fn) => (...args) => fn(...args).catch(failed);
// Fill a <select> with DOM options (never innerHTML: names come from VTPass's catalog).
function fill(select, items, value, label) {
  select.replaceChildren(...items.map((item) => new Option(label(item), value(item))));
}

// 1. Sign up (an email already registered is fine) and log in.
$("login-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  const credentials = { email: $("email").value, password: $("password").value };
  try {
    await api("/api/v1/auth/register", { method: "POST", body: credentials });
  } catch (error) {
    if (error.code !== "validation_error") throw error;
  }
  token = (await api("/api/v1/auth/login", { method: "POST", body: credentials })).access_token;
  $("who").textContent = `Signed in as ${credentials.email}`;
  $("fund").disabled = false;
  $("error").textContent = "";
  await Promise.all([showWallet(), loadCategories()]);
}));

// 2. The wallet, and the sandbox-only top-up (performed by PayLink's admin, server side).
async function showWallet() {
  const wallet = await api("/api/v1/wallet", { token });
  $("available").textContent = wallet.available;
  $("held").textContent = wallet.held;
}
$("fund").addEventListener("click", guarded(async () => {
  await api("/api/v1/sandbox/wallet/fund", { method: "POST", token, body: { amount: "5000" } });
  await showWallet();
}));

// 3. The catalog: categories, their services, a service's plans (variations).
async function loadCategories() {
  const { data } = await api("/api/v1/catalog/categories", { token });
  fill($("category"), data, (c) => c.id, (c) => c.name);
  $("category").disabled = false;
  await loadServices();
}
$("category").addEventListener("change", guarded(loadServices));

async function loadServices() {
  const category = $("category").value;
  const services = (await api(`/api/v1/catalog/services?category=${category}`, { token })).data;
  fill($("service"), services, (s) => s.service_id, (s) => s.name);
  $("service").disabled = false;
  $("buy").disabled = false;
  await loadVariations();
}
$("service").addEventListener("change", guarded(loadVariations));

// Which fields a category needs: a plan (data, tv, internet, education), a customer number
// to verify (electricity, tv, internet, JAMB), a meter type (electricity), an amount (airtime
// and electricity; plans have fixed prices).
async function loadVariations() {
  const category = $("category").value;
  const serviceId = $("service").value;
  const needsPlan = ["data", "tv", "internet", "education"].includes(category);
  const needsCustomer = ["electricity", "tv", "internet"].includes(category) || serviceId === "jamb";
  $("variation-row").hidden = !needsPlan;
  $("customer-row").hidden = !needsCustomer;
  $("verify").hidden = !needsCustomer;
  $("type-row").hidden = category !== "electricity";
  $("amount-row").hidden = needsPlan;
  $("verified").textContent = "";
  if (needsPlan) {
    const { data } = await api(`/api/v1/catalog/services/${serviceId}/variations`, { token });
    fill($("variation"), data, (v) => v.variation_code, (v) => `${v.name} (₦${v.amount})`);
  }
}

// Verify a meter, smartcard, Smile account or JAMB profile before buying.
$("verify").addEventListener("click", guarded(async () => {
  const body = { service_id: $("service").value, customer_id: $("customer").value };
  if ($("category").value === "electricity") body.type = $("meter-type").value;
  const customer = await api("/api/v1/verifications", { method: "POST", token, body });
  $("verified").textContent = `Verified: ${customer.customer_name}`;
}));

// 4. Buy: one Idempotency-Key per purchase (a retry of the same click reuses it), then follow
// the purchase live over the stream instead of polling.
$("buy-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  const body = { service_id: $("service").value, phone: $("phone").value };
  if (!$("amount-row").hidden) body.amount = $("amount").value;
  if (!$("variation-row").hidden) body.variation_code = $("variation").value;
  if (!$("customer-row").hidden) body.customer_id = $("customer").value;
  if (!$("type-row").hidden) body.type = $("meter-type").value;
  const headers = { "Idempotency-Key": crypto.randomUUID() };
  const purchase = await api("/api/v1/purchases", { method: "POST", token, body, headers });
  $("error").textContent = "";
  $("timeline").replaceChildren();
  $("receipt").hidden = true;
  $("purchase-id").textContent = purchase.id;
  await showWallet();
  await followPurchase({ base: streamBase, token, id: purchase.id, onEvent: showEvent });
  await showWallet();
}));

function showEvent({ event, data }) {
  const purchase = event === "purchase" ? data : data.purchase;
  const entries = event === "purchase" ? data.history : [data];
  for (const entry of entries) {
    const item = document.createElement("li");
    item.textContent = `${entry.status} — ${entry.reason || ""}`;
    $("timeline").append(item);
  }
  $("status").textContent = purchase.status;
  $("status").dataset.status = purchase.status;
  if (purchase.receipt) {
    $("receipt").hidden = false;
    $("receipt-body").textContent = JSON.stringify(purchase.receipt, null, 2);
  }
}

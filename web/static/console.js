// The operator console: the review queue, search, one purchase's whole story, and the two
// operator actions (requery now, resolve with a note). Only the admin API is used.
import { api } from "./paylink.js";

const $ = (id) => document.getElementById(id);
let token = null;
let shown = null; // the purchase id on screen

function failed(error) {
  $("error").textContent = error.code ? `${error.code}: ${error.message}` : String(error);
}
const guarded = (fn) => (...args) => fn(...args).catch(failed);

// Build elements with textContent only: everything shown comes from customers or VTPass.
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}
function rows(table, items, columns) {
  table.querySelector("tbody").replaceChildren(
    ...items.map((item) => {
      const tr = document.createElement("tr");
      tr.append(...columns(item));
      return tr;
    }),
  );
}
function purchaseLink(id) {
  const td = document.createElement("td");
  const link = document.createElement("a");
  link.href = "#" + id;
  link.textContent = id;
  link.addEventListener("click", guarded(async (event) => {
    event.preventDefault();
    await showPurchase(id);
  }));
  td.append(link);
  return td;
}
function block(title, value) {
  const details = document.createElement("details");
  details.open = true;
  const summary = document.createElement("summary");
  summary.textContent = title;
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(value, null, 2);
  details.append(summary, pre);
  return details;
}

$("login-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  const body = { email: $("email").value, password: $("password").value };
  token = (await api("/api/v1/auth/login", { method: "POST", body })).access_token;
  const me = await api("/api/v1/me", { token });
  if (me.role !== "admin") throw new Error("This account is not an operator.");
  $("who").textContent = `Signed in as ${me.email}`;
  $("error").textContent = "";
  await showReview();
}));

async function showReview() {
  const { data } = await api("/api/v1/admin/purchases?status=review&limit=100", { token });
  rows($("review"), data, (p) => [
    purchaseLink(p.id), cell(p.service_id), cell(p.amount),
    cell([p.phone, p.customer_id].filter(Boolean).join(" / ")), cell(p.updated_at),
  ]);
}
$("refresh").addEventListener("click", guarded(showReview));

$("search-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  const q = encodeURIComponent($("q").value.trim());
  const { data } = await api(`/api/v1/admin/search?q=${q}`, { token });
  $("results-card").hidden = false;
  rows($("results"), data, (p) => [
    purchaseLink(p.id), cell(p.status), cell(p.service_id), cell(p.amount),
    cell(p.user_email), cell(p.created_at),
  ]);
  if (data.length === 1) await showPurchase(data[0].id);
}));

async function showPurchase(id) {
  const story = await api(`/api/v1/admin/purchases/${id}`, { token });
  const p = story.purchase;
  shown = p.id;
  $("detail").hidden = false;
  $("detail-id").textContent = p.id;
  $("detail-status").textContent = p.status;
  $("detail-status").dataset.status = p.status;
  $("detail-summary").textContent =
    `${p.service_id} · ₦${p.amount} · ${p.phone} ${p.customer_id || ""} · ` +
    `request_id ${p.request_id} · user ${story.user?.email} · ` +
    `VTPass transaction ${p.vtpass_transaction_id || "none"}`;
  const resolvable = p.status === "review";
  $("resolve-form").hidden = !resolvable;
  rows($("history"), p.history, (h) => [cell(h.at), cell(h.status), cell(h.reason)]);
  $("exchanges").replaceChildren(
    ...story.vtpass_exchanges.map((e) =>
      block(`${e.at} ${e.action} → ${e.detail.outcome} (code ${e.detail.code ?? "-"})`, e.detail)),
  );
  rows($("ledger"), story.ledger, (j) => [cell(j.created_at), cell(j.type), cell(j.amount), cell(j.actor)]);
  $("webhooks").replaceChildren(
    ...story.webhooks.map((w) =>
      block(`${w.event_type} → ${w.url}: ${w.status}, ${w.attempts.length} attempt(s)`, w)),
  );
  $("callbacks").replaceChildren(
    ...story.callbacks.map((c) => block(`${c.received_at} ×${c.times_received}`, c.body)),
  );
  if (!story.webhooks.length) $("webhooks").textContent = "No webhook endpoint was subscribed.";
  if (!story.callbacks.length) $("callbacks").textContent = "No callback from VTPass.";
}

$("requery").addEventListener("click", guarded(async () => {
  await api(`/api/v1/admin/purchases/${shown}/requery`, { method: "POST", token });
  await Promise.all([showPurchase(shown), showReview()]);
}));

$("resolve-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  const body = { status: $("resolve-status").value, note: $("resolve-note").value };
  await api(`/api/v1/admin/purchases/${shown}/resolve`, { method: "POST", token, body });
  $("resolve-note").value = "";
  await Promise.all([showPurchase(shown), showReview()]);
}));

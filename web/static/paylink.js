// PayLink's browser client: the two things every page needs, in plain JavaScript.
//
//   api(path, {method, body, token, headers})  -> parsed JSON, or throws an ApiError
//   followPurchase({base, token, id, onEvent})  -> resolves once the purchase is final
//
// Copy this file into your own frontend: it has no dependencies and needs no build step.

/** An error answer from PayLink: `code` is the machine code (e.g. "insufficient_funds"). */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message);
    this.status = status;
    this.code = error.code;
    this.fields = error.fields || {};
  }
}

/** Call the PayLink API and return its JSON (null for 204). */
export async function api(path, { method = "GET", body, token, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const json = await response.json();
  // Every error has the same shape: {"error": {"code", "message", "fields"?}}.
  if (!response.ok) throw new ApiError(response.status, json.error);
  return json;
}

const FINAL = ["delivered", "failed", "reversed"];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follow a purchase live over Server-Sent Events until it is final.
 *
 * Why fetch() and not EventSource: EventSource cannot send an Authorization header. Reading
 * the stream with fetch() takes twenty lines and does what EventSource does: it remembers the
 * last event id and, when the stream drops (a deploy, a Redis restart), reconnects with
 * `Last-Event-ID` so PayLink sends exactly the events that were missed.
 *
 * `onEvent({event, id, data})` is called with event "purchase" (the purchase object, at once)
 * and then "status" (one per status change: {status, at, reason, purchase}).
 */
export async function followPurchase({ base = "", token, id, onEvent }) {
  let lastEventId = null;
  for (;;) {
    const headers = { Authorization: `Bearer ${token}` };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    let response;
    try {
      response = await fetch(`${base}/api/v1/purchases/${id}/stream`, { headers });
    } catch {
      await sleep(2000); // the network or the stream server is down: try again shortly
      continue;
    }
    if (response.status === 429 || response.status === 503) {
      await sleep(1000 * Number(response.headers.get("Retry-After") || 5));
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, (await response.json()).error);

    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let final = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // Events are separated by a blank line; lines starting with ":" are heartbeats.
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { event: "message", id: null, data: null };
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          if (colon <= 0) continue; // a heartbeat comment, or nothing
          const field = line.slice(0, colon);
          const text = line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") event.data = JSON.parse(text);
          else if (field === "id") event.id = text;
          else if (field === "event") event.event = text;
        }
        if (event.id) lastEventId = event.id;
        if (event.data) {
          onEvent(event);
          const purchase = event.event === "purchase" ? event.data : event.data.purchase;
          final = FINAL.includes(purchase.status);
        }
      }
    }
    if (final) return; // PayLink closes the stream once the purchase is final
    await sleep(1000); // it ended early (the server restarted): reconnect and resume
  }
}

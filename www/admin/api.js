// The admin API (SPEC §6) as small functions. Errors are thrown as ApiError with the server's
// {"error": {"code", "message", "details": [{path, message}]}} unpacked.

const TOKEN_KEY = "engage-admin:token"; // shared with the demo's agent console (same origin)
const SITE_KEY = "engage-admin:site";

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
  }
}

function storage() {
  try {
    return window.sessionStorage;
  } catch (_) {
    return null;
  }
}

export const session = {
  get token() {
    return storage()?.getItem(TOKEN_KEY) || "";
  },
  set token(t) {
    const s = storage();
    if (!s) return;
    if (t) s.setItem(TOKEN_KEY, t);
    else s.removeItem(TOKEN_KEY);
  },
  get site() {
    return storage()?.getItem(SITE_KEY) || "acme";
  },
  set site(v) {
    storage()?.setItem(SITE_KEY, v || "acme");
  },
};

const enc = encodeURIComponent;
const sitePath = () => `/admin/v1/sites/${enc(session.site)}`;

async function request(method, path, { body, raw = false, headers = {}, token = session.token, contentType = "application/json", signal } = {}) {
  const init = { method, headers: { ...headers }, cache: "no-store", signal };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["content-type"] = contentType;
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e?.name === "AbortError") throw e;
    throw new ApiError(0, "network", `Could not reach the server (${e.message}).`);
  }
  if (!res.ok) throw await toError(res);
  if (raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (_) {
    return text;
  }
}

async function toError(res) {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let details = [];
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      details = body.error.details || [];
    }
  } catch (_) {
    /* not JSON */
  }
  if (res.status === 401) message = "The server refused the admin token. Sign in again.";
  // 403: the key is valid but its role or sites do not cover this request; the server says
  // which ("the analyst key \"key_…\" cannot PUT /admin/v1/sites/{site}/campaigns").
  if (res.status === 403) {
    code = "forbidden";
    message = message && message !== res.statusText ? `Not allowed: ${message}` : "Not allowed: the key you signed in with may not do this.";
  }
  return new ApiError(res.status, code, message, details);
}

/** Tries `paths` in turn while the server answers 404/405 (routes that moved). */
async function firstRoute(method, paths, opts) {
  let first;
  for (const p of paths) {
    try {
      return await request(method, p, opts);
    } catch (e) {
      if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
      if (!first) first = e;
    }
  }
  throw first;
}

/** Checks a token: resolves when the server accepts it (a site without a document is fine). */
export async function checkToken(token, site) {
  try {
    await request("GET", `/admin/v1/sites/${enc(site)}/campaigns`, { token });
  } catch (e) {
    if (e.status === 404) return;
    throw e;
  }
}

/** The active document, `{doc, version}`; `{doc: null}` when the site has none yet. */
export async function getDocument() {
  try {
    const res = await request("GET", `${sitePath()}/campaigns`, { raw: true });
    const version = Number(res.headers.get("x-engage-version")) || null;
    const text = await res.text();
    return { doc: JSON.parse(text), text, version };
  } catch (e) {
    if (e.status === 404 && e.code === "not_found") return { doc: null, text: "", version: null };
    throw e;
  }
}

export const putDocument = (text) => request("PUT", `${sitePath()}/campaigns`, { body: text });

export const getVersions = () =>
  firstRoute("GET", [`${sitePath()}/versions`, `${sitePath()}/campaigns/versions`]);

export const activateVersion = (n) =>
  firstRoute("POST", [`${sitePath()}/versions/${enc(n)}/activate`, `${sitePath()}/campaigns/versions/${enc(n)}/activate`]);

export const createCampaign = (c) => request("POST", `${sitePath()}/campaigns/${enc(c.id)}`, { body: c });
export const replaceCampaign = (id, c) => request("PUT", `${sitePath()}/campaigns/${enc(id)}`, { body: c });
export const deleteCampaign = (id) => request("DELETE", `${sitePath()}/campaigns/${enc(id)}`);
export const setEnabled = (id, enabled) => request("PATCH", `${sitePath()}/campaigns/${enc(id)}`, { body: { enabled } });

export const simulate = (script) => request("POST", `${sitePath()}/simulate`, { body: script });

export function report({ from, to, goal } = {}) {
  const q = new URLSearchParams();
  if (from) q.set("from", from);
  if (to) q.set("to", to);
  if (goal) q.set("goal", goal);
  const qs = q.toString();
  return request("GET", `${sitePath()}/report${qs ? `?${qs}` : ""}`);
}

export const availability = () => request("GET", `/v1/sites/${enc(session.site)}/availability`, { token: "" });

/** The public offsite link of an engagement, and its QR code. */
export const offsiteLink = (engagementId) => `/o/${enc(session.site)}/${enc(engagementId)}`;
export const offsiteQr = (engagementId) => `${offsiteLink(engagementId)}/qr.svg`;


// ---- access keys (SPEC §6) -----------------------------------------------------------------------

export const listKeys = () => request("GET", "/admin/v1/keys");
export const createKey = (k) => request("POST", "/admin/v1/keys", { body: k });
export const revokeKey = (id) => request("DELETE", `/admin/v1/keys/${enc(id)}`);

// ---- SMS campaigns and contacts (SPEC §10) ----------------------------------------------------

export const smsCampaigns = () => request("GET", `${sitePath()}/sms/campaigns`);
export const smsCampaign = (id) => request("GET", `${sitePath()}/sms/campaigns/${enc(id)}`);
export const createSmsCampaign = (c) => request("POST", `${sitePath()}/sms/campaigns`, { body: c });
export const updateSmsCampaign = (id, c) => request("PATCH", `${sitePath()}/sms/campaigns/${enc(id)}`, { body: c });
export const cancelSmsCampaign = (id) => request("POST", `${sitePath()}/sms/campaigns/${enc(id)}/cancel`);
export const deleteSmsCampaign = (id) => request("DELETE", `${sitePath()}/sms/campaigns/${enc(id)}`);
export const smsPreview = (message, signal) => request("POST", `${sitePath()}/sms/preview`, { body: { message }, signal });
export const smsAudience = (audience, signal) => request("POST", `${sitePath()}/sms/audience`, { body: { audience }, signal });
export const smsInboxes = () => request("GET", `${sitePath()}/sms/inboxes`);

export function contacts({ tag, q, cursor, limit } = {}, signal) {
  const p = new URLSearchParams();
  if (tag) p.set("tag", tag);
  if (q) p.set("q", q);
  if (cursor) p.set("cursor", cursor);
  if (limit) p.set("limit", String(limit));
  const qs = p.toString();
  return request("GET", `${sitePath()}/contacts${qs ? `?${qs}` : ""}`, { signal });
}
// ---- conversations and their hand-off (SPEC §11) ---------------------------------------------

export function conversations({ channel, from, to, cursor, limit } = {}, signal) {
  const p = new URLSearchParams();
  if (channel) p.set("channel", channel);
  if (from) p.set("from", from);
  if (to) p.set("to", to);
  if (cursor) p.set("cursor", cursor);
  if (limit) p.set("limit", String(limit));
  const qs = p.toString();
  return request("GET", `${sitePath()}/conversations${qs ? `?${qs}` : ""}`, { signal });
}
export const handoffs = () => request("GET", `${sitePath()}/handoffs`);

export const contactTags = () => request("GET", `${sitePath()}/contacts/tags`);
export const importContactsCsv = (text) => request("PUT", `${sitePath()}/contacts`, { body: text, contentType: "text/csv" });
export const deleteContact = (id) => request("DELETE", `${sitePath()}/contacts/${enc(id)}`);

/**
 * Follows `GET …/sms/campaigns/{id}/stream` (Server-Sent Events) with the bearer header, which
 * EventSource cannot send: a fetch whose body is read as it arrives, each `data:` block parsed as
 * JSON and handed to `onEvent`. Resolves when the server ends the stream; rejects on an HTTP
 * error (ApiError) or a network failure; `signal` aborts it.
 */
export async function smsStream(id, { signal, onEvent }) {
  const res = await request("GET", `${sitePath()}/sms/campaigns/${enc(id)}/stream`, {
    raw: true, signal, headers: { accept: "text/event-stream" },
  });
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  const line = (l) => {
    if (l === "") {
      if (data.length) {
        const text = data.join("\n");
        data = [];
        let event;
        try {
          event = JSON.parse(text);
        } catch (_) {
          return; // not JSON (a keep-alive): ignored
        }
        onEvent(event);
      }
      return;
    }
    if (l.startsWith(":")) return;
    const colon = l.indexOf(":");
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? "" : l.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const l = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer[nl] === "\r" && buffer[nl + 1] === "\n" ? 2 : 1));
        line(l);
      }
    }
    if (buffer) line(buffer);
    line("");
  } finally {
    reader.releaseLock?.();
  }
}

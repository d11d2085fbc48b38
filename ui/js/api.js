// The one way the UI talks to the API: the base from config.json, the bearer token, one refresh on a
// 401, and problem+json turned into an ApiError the pages show next to their inputs.

import * as session from "./session.js";

let config = { api_base: "/api/v1", ws_url: null, function_urls: false };
let functionRoutes = [];

/**
 * Read config.json (served by the gateway, or written by `make ui-site` beside a static copy of ui/).
 * With `function_urls` (DigitalOcean's function URLs), also routes.json: which function serves each
 * REST route, since the platform serves only `<base>/<package>/<function>/<id>`.
 */
export async function loadConfig() {
  const answer = await fetch(new URL("config.json", document.baseURI), { cache: "no-cache" });
  if (!answer.ok) throw new Error(`config.json: HTTP ${answer.status}`);
  config = { ...config, ...(await answer.json()) };
  if (config.function_urls) {
    const table = await fetch(new URL("routes.json", document.baseURI), { cache: "no-cache" });
    if (!table.ok) throw new Error(`routes.json: HTTP ${table.status}`);
    functionRoutes = (await table.json()).map((r) => ({ ...r,
      regex: new RegExp(`^${r.route.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace("{id}", "([^/]+)")}$`) }));
  }
  refreshAhead(); // the refresh goes to the API the config names
  return config;
}

/** The path to ask for: the REST path itself, or the function URL path serving it. */
function target(method, path) {
  if (!config.function_urls) return path;
  for (const r of functionRoutes) {
    const m = r.method === method && r.regex.exec(path);
    if (m) return `/${r.function}${m[1] ? `/${m[1]}` : ""}`;
  }
  throw new Error(`No function serves ${method} ${path}`);
}

export function getConfig() {
  return config;
}

/** An error answer of the API (RFC 9457 problem details), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || (status ? `HTTP ${status}` : "Network error");
    this.detail = problem.detail || (status ? "" : "The server could not be reached. Check your connection and try again.");
    this.code = problem.code || null;
    this.errors = problem.errors || [];
    this.problem = problem;
  }
}

/**
 * The absolute URL of an API path ("/items") with a query ({search: "x"}: empty values left out), for
 * `method` (it picks the function when the API is function URLs).
 */
export function url(path, query = {}, method = "GET") {
  const base = new URL(config.api_base.replace(/\/?$/, "/"), document.baseURI);
  // An absolute URL is one the API gave (a Link header's next page): asked for as it is.
  const out = /^https?:/.test(path) ? new URL(path) : new URL(target(method, path).replace(/^\//, ""), base);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") out.searchParams.set(key, String(value));
  }
  return out;
}

let refreshing = null;
const LEASE = "ims.refresh.lease";
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Run `fn` while no other tab of this browser runs its own: the Web Locks API, or where a page has none
 * (an old browser, or plain HTTP from another host: not a secure context) a lease in localStorage.
 */
async function oneTabAtATime(fn) {
  if (navigator.locks) return navigator.locks.request("ims.refresh", fn);
  const me = newKey();
  for (let tries = 0; tries < 100; tries += 1) {
    let lease = null;
    try { lease = JSON.parse(localStorage.getItem(LEASE)); } catch { /* unreadable: free */ }
    if (!lease || lease.until < Date.now()) {
      localStorage.setItem(LEASE, JSON.stringify({ owner: me, until: Date.now() + 20000 }));
      await sleep(50); // another tab that wrote at the same moment wins or loses here
      if (JSON.parse(localStorage.getItem(LEASE) || "null")?.owner === me) {
        try { return await fn(); } finally { localStorage.removeItem(LEASE); }
      }
    }
    await sleep(100 + Math.random() * 200);
  }
  return "later";
}

/**
 * Trade the refresh token for a new pair after `failed` (the access token a 401 or the live feed
 * refused) stopped working. Every tab shares one session and a refresh token is spent by its first use
 * (a second use ends the whole session), so one refresh runs at a time across the tabs, and a tab that
 * waited finds the pair another tab already stored. Resolves "ok" (a fresh pair is stored), "over"
 * (the session has ended: signed out) or "later" (the API could not answer now: the session is kept;
 * try again).
 */
export function refresh(failed = session.get()?.access_token) {
  if (!refreshing) {
    const run = async () => {
      const s = session.reload();
      if (!s?.refresh_token) return "over";
      if (s.access_token !== failed) return "ok"; // another tab refreshed meanwhile
      let answer;
      let pair;
      try {
        answer = await fetch(url("/auth/refresh", {}, "POST"), {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: s.refresh_token }),
          signal: AbortSignal.timeout(15000), // a hung connection must not hold every tab's turn
        });
        if (answer.ok) pair = await answer.json();
      } catch {
        return "later"; // unreachable, timed out, or not the API's answer (a proxy's page)
      }
      // Signed out, or in as someone else, meanwhile: that stands, whatever this answer says.
      const now = session.reload();
      if (now?.refresh_token !== s.refresh_token) return now ? "ok" : "over";
      if (pair) {
        session.set({ ...now, ...pair, received_at: Date.now() });
        return "ok";
      }
      if (answer.status === 401 || answer.status === 403) {
        session.set(null);
        return "over";
      }
      return "later"; // 429, 503: the session may well be fine
    };
    refreshing = oneTabAtATime(run).catch(() => "later").finally(() => { refreshing = null; });
  }
  return refreshing;
}

let ahead = null;

/**
 * Refresh a minute or two before the access token expires (at a random moment, so tabs don't all try
 * at once; for a short-lived token, in its last fifth), so neither a request nor the live feed meets an
 * expired token. Timed from when this browser received the token and its lifetime (`exp` - `iat`),
 * not by comparing `exp` with this computer's clock, which may be off.
 */
function refreshAhead() {
  clearTimeout(ahead);
  const life = session.lifetime();
  if (!life) return;
  const lasts = life.expires - life.issued;
  const early = Math.min(60000 + Math.random() * 60000, lasts / 5);
  const received = session.get()?.received_at ?? Date.now();
  const wait = Math.min(2 ** 31 - 1, Math.max(lasts / 5, received + lasts - early - Date.now()));
  const token = session.get()?.access_token;
  ahead = setTimeout(async () => {
    const outcome = await refresh(token);
    // The API is away: again soon, unless a new pair has come meanwhile (which rescheduled already).
    if (outcome === "later" && session.get()?.access_token === token) {
      clearTimeout(ahead);
      ahead = setTimeout(refreshAhead, 5000 + Math.random() * 5000);
    }
  }, wait);
}
session.onChange(refreshAhead);

/**
 * api("/items", {query: {page: 2}}) -> the parsed JSON (null for 204).
 * Options: method, body (JSON unless a string/Blob with `contentType`), query, headers, ifMatch (a
 * version number), idempotencyKey, raw (return the Response itself), auth (false: no token).
 */
export async function api(path, { method = "GET", body, query, headers = {}, ifMatch, idempotencyKey,
  raw = false, auth = true, contentType } = {}) {
  let token = null;
  const send = async () => {
    const h = { Accept: "application/json, application/problem+json", ...headers };
    token = auth ? session.get()?.access_token : null;
    if (token) h.Authorization = `Bearer ${token}`;
    if (ifMatch !== undefined && ifMatch !== null) h["If-Match"] = `"${ifMatch}"`;
    if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
    let payload;
    if (body !== undefined) {
      if (contentType) { h["Content-Type"] = contentType; payload = body; }
      else { h["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    }
    try {
      return await fetch(url(path, query, method), { method, headers: h, body: payload });
    } catch {
      throw new ApiError(0);
    }
  };
  let answer = await send();
  // Twice at most: on a slow day a token fresh from another tab may have expired by the time it is used.
  for (let tries = 0; answer.status === 401 && token && tries < 2; tries += 1) {
    const outcome = await refresh(token);
    if (outcome === "later") throw new ApiError(0); // signed in still; the page offers to retry
    if (outcome === "over") return Promise.reject(new ApiError(401, { detail: "Your session has ended. Please sign in again." }));
    answer = await send();
  }
  if (answer.status === 401 && token) session.set(null); // refused with fresh tokens too: the session is over
  if (!answer.ok) {
    let problem = {};
    try { problem = await answer.json(); } catch { /* not JSON: the status says enough */ }
    throw new ApiError(answer.status, problem);
  }
  if (raw) return answer;
  if (answer.status === 204) return null;
  const type = answer.headers.get("Content-Type") || "";
  return type.includes("json") ? answer.json() : answer.text();
}

/**
 * A stock movement: restock or withdraw (POST) or count (PATCH quantity, If-Match when the version is
 * known). `key` is made once per user action by the caller (newKey()) and reused for its retries, so
 * a double submit or a retry after a dropped connection never moves stock twice.
 */
export function movement(item, action, quantity, notes, key) {
  if (action === "count") {
    return api(`/items/${item.id}`, { method: "PATCH", body: { quantity }, ifMatch: item.version, idempotencyKey: key });
  }
  const body = notes ? { quantity, notes } : { quantity };
  return api(`/items/${item.id}/${action}`, { method: "POST", body, idempotencyKey: key });
}

/** A random UUID (v4). `crypto.randomUUID` exists only in secure contexts; a page over plain HTTP from
 * another machine of the LAN is not one, so the UUID is made from getRandomValues, which exists everywhere. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Every page of a list endpoint (at most `limit` rows), for choices such as categories in a select. */
export async function all(path, query = {}, limit = 1000) {
  const rows = [];
  for (let page = 1; rows.length < limit; page += 1) {
    const answer = await api(path, { query: { ...query, page, per_page: 100 } });
    rows.push(...answer.data);
    if (rows.length >= answer.total || answer.data.length === 0) break;
  }
  return rows;
}

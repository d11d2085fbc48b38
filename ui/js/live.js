// The live feed: one WebSocket per tab. It signs in with the first message (tokens stay out of URLs),
// resumes from the last event id this tab saw, reconnects with exponential backoff and full jitter,
// and hands events to the pages that subscribed. `resync_required` (an id too old, or a restore)
// tells every page to reload what it shows.

import { getConfig, refresh } from "./api.js";
import * as session from "./session.js";

const LAST_ID = "ims.last_event_id";
const BASE_DELAY = 500;
const MAX_DELAY = 30000;

// A page loaded afresh reads everything from the API: resuming is for reconnects within one page's life.
sessionStorage.removeItem(LAST_ID);

const handlers = new Map(); // event type (or "*") -> Set of functions
const resyncs = new Set();
let socket = null;
let attempts = 0;
let timer = null;
let running = false;
let badge = null;

/** Call fn(event) for each live event of the given types ("*": all); returns the unsubscribe. */
export function subscribe(types, fn) {
  for (const type of [].concat(types)) {
    if (!handlers.has(type)) handlers.set(type, new Set());
    handlers.get(type).add(fn);
  }
  return () => { for (const type of [].concat(types)) handlers.get(type)?.delete(fn); };
}

/** Call fn() when the server says this tab may have missed events: reload from the API. */
export function onResync(fn) {
  resyncs.add(fn);
  return () => resyncs.delete(fn);
}

function feedUrl() {
  const { ws_url: configured } = getConfig();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = new URL(configured || `${scheme}//${location.hostname}:8001/ws`, location.href);
  const last = sessionStorage.getItem(LAST_ID);
  if (last) url.searchParams.set("last_event_id", last);
  return url;
}

function show(state, text) {
  if (!badge) return;
  badge.hidden = false;
  badge.dataset.state = state;
  badge.textContent = text;
}

/** Flash the badge: something just changed. */
function flash() {
  if (!badge) return;
  badge.classList.remove("flash");
  void badge.offsetWidth; // restart the animation
  badge.classList.add("flash");
}

let sentToken = null; // the access token the connection signed in with, or was last given once live
let isLive = false; // the open connection has said `ready`
let refreshedSinceLive = false; // a refused token is refreshed once per run of failed connections

function connect() {
  clearTimeout(timer);
  const token = session.get()?.access_token;
  if (!running || !token || socket) return; // one connection per tab
  show("connecting", "Connecting…");
  const ws = new WebSocket(feedUrl());
  socket = ws;
  isLive = false;
  ws.onopen = () => {
    sentToken = session.get()?.access_token;
    ws.send(JSON.stringify({ type: "auth", token: sentToken }));
  };
  ws.onmessage = (message) => {
    if (socket !== ws) return; // a connection being replaced
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    if (event.id) sessionStorage.setItem(LAST_ID, event.id);
    if (event.event === "ready") {
      attempts = 0;
      isLive = true;
      refreshedSinceLive = false;
      if (session.get()?.access_token !== sentToken) { // refreshed while this one signed in
        sentToken = session.get()?.access_token;
        ws.send(JSON.stringify({ type: "auth", token: sentToken }));
      }
      if (event.data?.last_event_id) sessionStorage.setItem(LAST_ID, event.data.last_event_id);
      show("live", "Live");
      return;
    }
    if (event.event === "resync_required") {
      for (const fn of resyncs) fn(event.data || {});
      flash();
      return;
    }
    if (!event.id) return; // authenticated, subscribed, error: nothing for the pages
    flash();
    for (const fn of [...(handlers.get(event.event) || []), ...(handlers.get("*") || [])]) {
      try { fn(event); } catch (error) { console.warn("live handler failed", error); }
    }
  };
  ws.onclose = async (close) => {
    if (socket !== ws) return;
    socket = null;
    if (!running) return;
    if (close.code === 4400) sessionStorage.removeItem(LAST_ID); // a resume point the server refuses
    show("offline", "Offline");
    if (close.code === 4401 && !refreshedSinceLive) {
      // The token was refused (expired, revoked): refresh it, unless another tab already has. Once:
      // refused again before going live, it is not the token's age (say, a password to change first).
      refreshedSinceLive = true;
      let outcome = "later";
      try { outcome = await refresh(sentToken); } catch { /* as "later": back off and try again */ }
      if (outcome === "over") { stop(); return; }
      if (!running || socket) return; // stopped, or reconnected meanwhile (back online)
    }
    attempts += 1;
    // Full jitter: a random wait up to an exponentially growing cap, so tabs don't reconnect in step.
    const cap = Math.min(MAX_DELAY, BASE_DELAY * 2 ** attempts);
    timer = setTimeout(connect, Math.random() * cap);
  };
}

/** Start the feed for the signed-in user; `badgeEl` shows its state. */
export function start(badgeEl) {
  badge = badgeEl;
  if (running) return;
  running = true;
  attempts = 0;
  connect();
}

/** Stop the feed (sign-out). */
export function stop() {
  running = false;
  clearTimeout(timer);
  const ws = socket;
  socket = null;
  if (ws) ws.close(1000);
  sessionStorage.removeItem(LAST_ID);
  if (badge) badge.hidden = true;
}

// A refreshed token is handed to the open connection before the old one expires.
session.onChange((s) => {
  if (socket && isLive && socket.readyState === WebSocket.OPEN && s?.access_token && s.access_token !== sentToken) {
    sentToken = s.access_token;
    socket.send(JSON.stringify({ type: "auth", token: sentToken }));
  }
});

// Back online or back to the tab: reconnect now rather than after the backoff.
window.addEventListener("online", () => { if (running && !socket) connect(); });
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && running && !socket) connect();
});

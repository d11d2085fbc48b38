// Boot: config, session, the shell (navigation by role, the account menu, the live badge, the
// managers' low-stock banner) and the router that renders one page module at a time.

import { api, loadConfig } from "./api.js";
import { fill, h, problemText } from "./dom.js";
import * as live from "./live.js";
import * as router from "./router.js";
import * as session from "./session.js";

const page = (name) => () => import(`./pages/${name}.js`);

router.route("/login", page("login"), { public: true });
router.route("/register", page("login"), { public: true, mode: "register" });
router.route("/", page("dashboard"));
router.route("/items", page("inventory"));
router.route("/items/new", page("item-new"), { manager: true });
router.route("/items/:id", page("item"));
router.route("/scan", page("scan"));
router.route("/labels", page("labels"));
router.route("/categories", page("categories"));
router.route("/locations", page("locations"));
router.route("/transactions", page("transactions"), { manager: true });
router.route("/alerts", page("alerts"), { manager: true });
router.route("/users", page("users"), { manager: true });
router.route("/import", page("import"), { manager: true });
router.route("/system", page("system"), { manager: true });
router.route("/profile", page("profile"));

// [path, label, manager only]
const NAV = [
  ["/", "Dashboard", false],
  ["/items", "Inventory", false],
  ["/scan", "Scan", false],
  ["/categories", "Categories", false],
  ["/locations", "Locations", false],
  ["/transactions", "Transactions", true],
  ["/alerts", "Alerts", true],
  ["/users", "Users", true],
  ["/import", "Import", true],
  ["/system", "System", true],
];

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const toggle = document.querySelector(".menu-toggle");
const account = document.getElementById("account");
const banner = document.getElementById("banner");
let cleanup = null;
let rendering = 0;

function renderShell() {
  const user = session.user();
  nav.hidden = !user;
  toggle.hidden = !user;
  account.hidden = !user;
  if (!user) {
    nav.replaceChildren();
    account.replaceChildren();
    banner.hidden = true;
    return;
  }
  const here = router.current().path;
  fill(nav, h("ul", {}, NAV.filter(([, , managerOnly]) => !managerOnly || session.isManager()).map(([path, label]) => {
    const active = path === "/" ? here === "/" : here === path || here.startsWith(`${path}/`);
    return h("li", {}, h("a", { href: `#${path}`, "aria-current": active ? "page" : false }, label));
  })));
  fill(account,
    h("a", { href: "#/profile", class: "who", title: user.email }, user.full_name,
      h("span", { class: "role" }, user.role)),
    h("button", { type: "button", onclick: signOut }, "Sign out"));
}

async function signOut() {
  const s = session.get();
  live.stop();
  session.set(null);
  if (s?.refresh_token) {
    await api("/auth/logout", { method: "POST", body: { refresh_token: s.refresh_token }, auth: false,
      headers: { Authorization: `Bearer ${s.access_token}` } }).catch(() => {});
  }
}

// The managers' low-stock banner: what is open when they arrive, then each new alert as it happens.
const fresh = new Map(); // alert id -> event data
async function showOpenAlerts() {
  if (!session.isManager()) return;
  try {
    const open = await api("/alerts", { query: { acknowledged: false, per_page: 1 } });
    renderBanner(open.total);
  } catch { /* the banner is a hint; the alerts page says more */ }
}

let openCount = 0;
function renderBanner(total = openCount) {
  openCount = total;
  if (!session.isManager() || (openCount === 0 && fresh.size === 0)) { banner.hidden = true; return; }
  banner.hidden = false;
  const newest = [...fresh.values()].slice(-3).reverse();
  fill(banner,
    h("p", {}, h("strong", {}, "Low stock: "),
      newest.length
        ? newest.map((a, i) => [i ? ", " : "", h("a", { href: `#/items/${a.item_id}` }, `${a.name} (${a.sku})`),
          ` ${a.quantity} left`])
        : `${openCount} unacknowledged alert${openCount === 1 ? "" : "s"}`),
    h("a", { href: "#/alerts", class: "button" }, "View alerts"),
    h("button", { type: "button", "aria-label": "Dismiss low-stock banner", onclick: () => {
      fresh.clear(); banner.hidden = true;
    } }, "Dismiss"));
}
live.subscribe("low_stock_alert", (event) => {
  const known = fresh.has(event.data.alert_id);
  fresh.set(event.data.alert_id, event.data);
  renderBanner(known ? openCount : openCount + 1);
});
// The count is of unacknowledged alerts, recovered ones included (as the alerts page lists them):
// asked again rather than guessed.
live.subscribe("alert_acknowledged", (event) => {
  fresh.delete(event.data.alert.id);
  showOpenAlerts();
});
live.subscribe("stock_recovered", (event) => {
  fresh.delete(event.data.alert_id); // no longer low; still to be acknowledged
  renderBanner();
});
live.subscribe("user_changed", (event) => {
  const me = session.user();
  if (me && event.data.user.id === me.id) session.update({ user: { ...me, ...event.data.user } });
});

async function render() {
  const ticket = ++rendering;
  const { path, query } = router.current();
  const found = router.match(path);
  const signedIn = !!session.get();
  if (!signedIn && !found?.route.public) {
    const here = query.toString() ? `${path}?${query}` : path; // back to the same view after signing in
    router.go("/login", { next: path === "/login" ? "" : here }, { replace: true });
    return;
  }
  if (signedIn && found?.route.public) { router.go("/", {}, { replace: true }); return; }
  if (signedIn && session.get().password_change_required && path !== "/profile") {
    router.go("/profile", {}, { replace: true });
    return;
  }
  if (cleanup) { try { cleanup(); } catch { /* a page's cleanup must not stop the next page */ } cleanup = null; }
  renderShell();
  document.body.classList.remove("nav-open");
  toggle.setAttribute("aria-expanded", "false");
  if (!found || (found.route.manager && !session.isManager())) {
    fill(view, h("h1", {}, "Not found"), h("p", {}, "There is no such page. "), h("a", { href: "#/" }, "Back to the dashboard"));
    return;
  }
  try {
    const module = await found.route.loader();
    if (ticket !== rendering) return; // the user has moved on
    view.replaceChildren();
    const done = await module.render(view, { ...found.params, query, mode: found.route.mode });
    if (ticket !== rendering) { if (typeof done === "function") done(); return; }
    cleanup = typeof done === "function" ? done : null;
  } catch (error) {
    if (ticket !== rendering) return;
    if (error.status === 401) return; // signed out: the session listener takes the user to sign-in
    fill(view, h("h1", {}, error.status === 404 ? "Not found" : "Something went wrong"),
      h("p", { role: "alert" }, problemText(error)));
  }
}

toggle.addEventListener("click", () => {
  const open = document.body.classList.toggle("nav-open");
  toggle.setAttribute("aria-expanded", String(open));
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.body.classList.contains("nav-open")) {
    document.body.classList.remove("nav-open");
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  }
});

/** The live feed runs for a signed-in user, except one who must choose a new password first (it refuses them). */
function followLive(s) {
  if (s && !s.password_change_required) live.start(document.getElementById("live"));
  else live.stop();
}

let signedInAs = null;
let signedInRole = null;
session.onChange((s) => {
  const who = s?.user?.id ?? null;
  if (who !== signedInAs) {
    signedInAs = who;
    signedInRole = s?.user?.role ?? null;
    live.stop(); // another user's feed, resume point and banner are not this one's
    fresh.clear();
    if (who === null) { router.go("/login", {}, { replace: true }); return; }
    followLive(s);
    showOpenAlerts();
    render();
    return;
  }
  followLive(s);
  if (s?.user?.role !== signedInRole) { // a manager changed this user's role: redraw with the new one's controls
    signedInRole = s.user.role;
    render();
    return;
  }
  renderShell();
});
live.onResync(() => { fresh.clear(); render(); showOpenAlerts(); });
window.addEventListener("hashchange", () => { render(); view.focus({ preventScroll: true }); });

async function boot() {
  try {
    await loadConfig();
  } catch (error) {
    fill(view, h("h1", {}, "IMS cannot start"), h("p", { role: "alert" }, `Its settings could not be read (${error.message}).`));
    return;
  }
  const s = session.get();
  if (s) {
    signedInAs = s.user.id;
    signedInRole = s.user.role;
    followLive(s);
    showOpenAlerts();
    // The stored user may be stale (a role change, a deactivation): ask once.
    api("/auth/me").then((user) => session.update({ user })).catch(() => {});
  }
  await render();
}

boot();

// #/transactions (managers): the stock ledger, newest first, filtered by item, user, action and
// dates (all in the hash query, so a filtered view can be bookmarked). New movements arrive live.

import { all, api } from "../api.js";
import { field, fmt, h, heading, pager } from "../dom.js";
import * as live from "../live.js";
import * as router from "../router.js";

const ACTIONS = ["create", "update", "delete", "restock", "withdraw", "count"];
const SKU = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const PER_PAGE = 25;
const names = new Map(); // item id -> {name, sku} or null (deleted): the ledger holds ids only

/** A date input's day ("2026-11-30") as the ISO UTC instant of that local midnight (+ `days`). */
function dayStart(ymd, days = 0) {
  const [y, m, d] = ymd.split("-").map(Number);
  return new Date(y, m - 1, d + days).toISOString();
}

/** The item the user typed: an exact SKU first, else an id. null: no such item. */
async function findItem(text) {
  if (SKU.test(text)) {
    const found = await api("/items", { query: { sku: text, per_page: 1 } });
    if (found.data.length) return found.data[0];
  }
  if (/^[0-9]{1,18}$/.test(text)) return { id: Number(text), name: null, sku: null };
  return null;
}

async function itemNames(ids) {
  const missing = [...new Set(ids)].filter((id) => !names.has(id));
  await Promise.all(missing.map((id) => api(`/items/${id}`)
    .then((item) => names.set(id, { name: item.name, sku: item.sku }))
    .catch(() => names.set(id, null))));
}

export async function render(root, { query }) {
  const filters = {
    item: (query.get("item") || "").trim(),
    user_id: query.get("user_id") || "",
    action: query.get("action") || "",
    since: query.get("since") || "",
    until: query.get("until") || "",
  };
  const page = Math.max(1, Number(query.get("page")) || 1);
  const users = await all("/users").catch(() => []);
  const userName = new Map(users.map((u) => [u.id, u.full_name]));

  const form = h("form", { class: "filters card", role: "search", "aria-label": "Filter the ledger" },
    field("Item (SKU or id)", { name: "item", value: filters.item, autocomplete: "off" }),
    field("User", { name: "user_id", type: "select", value: filters.user_id,
      options: [["", "Anyone"], ...users.map((u) => [u.id, `${u.full_name} (${u.email})`])] }),
    field("Action", { name: "action", type: "select", value: filters.action,
      options: [["", "Any"], ...ACTIONS.map((a) => [a, a])] }),
    field("Since", { name: "since", type: "date", value: filters.since }),
    field("Until (inclusive)", { name: "until", type: "date", value: filters.until }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Apply"),
      h("a", { class: "button", href: "#/transactions" }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    router.go("/transactions", { ...data, item: data.item.trim() });
  });
  root.append(heading("Transactions"), form);

  let item = null;
  if (filters.item) {
    item = await findItem(filters.item);
    if (!item) {
      root.append(h("p", { role: "status" }, `No item has the SKU or id “${filters.item}”.`));
      return null;
    }
  }
  const params = {
    item_id: item?.id, user_id: filters.user_id, action: filters.action,
    since: filters.since ? dayStart(filters.since) : "",
    until: filters.until ? dayStart(filters.until, 1) : "", // the API's `until` is exclusive
  };
  const answer = await api("/logs", { query: { ...params, page, per_page: PER_PAGE } });
  await itemNames(answer.data.map((entry) => entry.item_id));

  const body = h("tbody");
  const status = h("div", { role: "status" });
  const pages = h("div");
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, "Stock ledger"),
    h("thead", {}, h("tr", {},
      ["When", "Item", "Action", "Change", "Quantity", "User", "Notes"].map((label) =>
        h("th", { scope: "col", class: label === "Change" || label === "Quantity" ? "num" : null }, label)))),
    body));

  function row(entry) {
    const known = names.get(entry.item_id);
    const label = known ? `${known.name} (${known.sku})` : `Item ${entry.item_id}${known === null ? " (deleted)" : ""}`;
    const delta = entry.delta;
    return h("tr", { dataset: { id: entry.id } },
      h("td", {}, h("time", { datetime: entry.created_at }, fmt.datetime(entry.created_at))),
      h("td", {}, h("a", { href: `#/items/${entry.item_id}` }, label)),
      h("td", {}, entry.action),
      h("td", { class: `num ${delta > 0 ? "delta-in" : delta < 0 ? "delta-out" : ""}` },
        delta > 0 ? `+${fmt.number(delta)}` : fmt.number(delta)),
      h("td", { class: "num" }, `${fmt.number(entry.quantity_before)} → ${fmt.number(entry.quantity_after)}`),
      h("td", {}, entry.user_id === null ? "—" : userName.get(entry.user_id) || `User ${entry.user_id}`),
      h("td", {}, entry.notes || ""));
  }

  function show(current, fresh = new Set()) {
    body.replaceChildren(...current.data.map((entry) => {
      const tr = row(entry);
      if (fresh.has(entry.id)) tr.classList.add("changed");
      return tr;
    }));
    table.hidden = current.data.length === 0;
    status.replaceChildren(current.data.length ? "" : h("p", { class: "muted" }, "No movements match."));
    pages.replaceChildren(current.total > current.per_page
      ? pager(current, (p) => router.go("/transactions", { ...filters, page: p })) : "");
  }
  root.append(status, table, pages);
  show(answer);

  // A movement that the filters would show: on page 1 the list reloads in place (new rows marked);
  // elsewhere a notice offers to go and see them.
  let waiting = 0;
  let timer = null;
  const matches = (data) => (!item || data.item_id === item.id)
    && (!filters.user_id || String(data.user?.id) === filters.user_id)
    && (!filters.action || data.action === filters.action)
    && !filters.until;
  const reload = async () => {
    const seen = new Set(answer.data.map((entry) => entry.id));
    const next = await api("/logs", { query: { ...params, page: 1, per_page: PER_PAGE } });
    await itemNames(next.data.map((entry) => entry.item_id));
    Object.assign(answer, next);
    show(answer, new Set(next.data.filter((entry) => !seen.has(entry.id)).map((entry) => entry.id)));
  };
  const stop = live.subscribe("stock_changed", (event) => {
    if (!matches(event.data)) return;
    if (page === 1) {
      clearTimeout(timer);
      timer = setTimeout(() => reload().catch(() => {}), 250); // a burst of movements: one reload
      return;
    }
    waiting += 1;
    status.replaceChildren(h("div", { class: "notice" },
      h("p", {}, `${fmt.number(waiting)} new movement${waiting === 1 ? "" : "s"}.`),
      h("a", { class: "button", href: router.href("/transactions", { ...filters, page: 1 }) }, "Show the newest")));
  });
  return () => { stop(); clearTimeout(timer); };
}

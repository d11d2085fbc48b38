// The dashboard: totals, what is low, what happened last, and two charts; all from aggregate endpoints
// staff may read (the ledger itself is manager-only). Live events refresh the numbers, at most every 2 s.

import { api } from "../api.js";
import * as charts from "../charts.js";
import { fill, fmt, h, heading, problemText, stat } from "../dom.js";
import { subscribe } from "../live.js";

const REFRESH_GAP = 2000;
const ACTIONS = { create: "Created", update: "Edited", delete: "Deleted", restock: "Restocked", withdraw: "Withdrawn", count: "Counted" };

function section(title, id) {
  const body = h("div", { class: "section-body" }, h("p", { class: "muted" }, "Loading…"));
  return { el: h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), body), body };
}

/** Run `load` and put what it returns in `body`, or a readable error there (one part failing leaves the rest). */
async function show(body, load) {
  try {
    fill(body, await load());
  } catch (error) {
    if (error.status === 401) throw error;
    fill(body, h("p", { class: "error", role: "alert" }, problemText(error)));
  }
}

function summaryParts(summary) {
  return [
    h("div", { class: "cards" },
      stat("Items", fmt.number(summary.total_items)),
      stat("Total quantity", fmt.number(summary.total_quantity)),
      stat("Total value", fmt.money(summary.total_value)),
      h("a", { class: `stat${summary.low_stock_count ? " warn" : ""}`, href: "#/items?below_threshold=true" },
        h("div", { class: "label" }, "Low stock"), h("div", { class: "value" }, fmt.number(summary.low_stock_count)))),
  ];
}

function activityTable(rows) {
  if (rows.length === 0) return h("p", { class: "muted" }, "Nothing has happened yet.");
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, "Action"),
      h("th", { scope: "col", class: "num" }, "Change"))),
    h("tbody", {}, rows.map((a) => h("tr", {},
      h("td", {}, fmt.datetime(a.created_at)),
      h("td", {}, a.item_name ? h("a", { href: `#/items/${a.item_id}` }, a.item_name) : `#${a.item_id}`),
      h("td", {}, ACTIONS[a.action] || a.action),
      h("td", { class: "num" }, `${fmt.number(a.quantity_before)} → ${fmt.number(a.quantity_after)}`))))));
}

async function lowStock() {
  const page = await api("/items", { query: { below_threshold: true, sort_by: "quantity", order: "asc", per_page: 10 } });
  if (page.data.length === 0) return h("p", { class: "muted" }, "Nothing is below its threshold.");
  return [
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, "SKU"),
        h("th", { scope: "col", class: "num" }, "Quantity"), h("th", { scope: "col", class: "num" }, "Threshold"))),
      h("tbody", {}, page.data.map((item) => h("tr", { class: "low" },
        h("td", {}, h("a", { href: `#/items/${item.id}` }, item.name)),
        h("td", {}, item.sku),
        h("td", { class: "num" }, fmt.number(item.quantity)),
        h("td", { class: "num" }, fmt.number(item.low_stock_threshold))))))),
    page.total > page.data.length
      ? h("p", {}, h("a", { href: "#/items?below_threshold=true" }, `All ${fmt.number(page.total)} low-stock items`))
      : null,
  ];
}

async function breakdown() {
  const rows = await api("/dashboard/category-breakdown");
  if (rows.length === 0) return h("p", { class: "muted" }, "No items yet.");
  return charts.bars(rows, { label: "Quantity in stock per category", name: (r) => r.name, value: (r) => r.total_quantity });
}

async function movements() {
  const answer = await api("/dashboard/movements", { query: { days: 30 } });
  const rows = answer.data;
  const totalIn = rows.reduce((n, r) => n + r.stock_in, 0);
  const totalOut = rows.reduce((n, r) => n + r.stock_out, 0);
  return [
    charts.columns(rows, { label: `Stock in and out per day, last ${answer.days} days`, x: (r) => fmt.day(r.date),
      series: [{ key: "stock_in", label: "In", cls: "in" }, { key: "stock_out", label: "Out", cls: "out" }] }),
    h("p", { class: "legend" },
      h("span", { class: "key in" }, `In: ${fmt.number(totalIn)}`), " ",
      h("span", { class: "key out" }, `Out: ${fmt.number(totalOut)}`)),
  ];
}

export async function render(root) {
  const summary = h("div", { class: "summary", "aria-live": "polite" });
  const low = section("Low stock", "dash-low");
  const recent = section("Recent activity", "dash-recent");
  const cats = section("Quantity per category", "dash-categories");
  const moves = section("Stock movements, last 30 days", "dash-movements");
  root.append(heading("Dashboard"), summary,
    h("div", { class: "columns" }, low.el, recent.el, cats.el, moves.el));

  const load = () => {
    const totals = api("/dashboard/summary");
    return Promise.all([
      show(summary, async () => summaryParts(await totals)),
      show(recent.body, async () => activityTable((await totals).recent_activity)),
      show(low.body, lowStock),
      show(cats.body, breakdown),
      show(moves.body, movements),
    ]);
  };
  await load();

  // Events come in bursts (an import, a busy shelf): refresh once after a quiet moment, at most every 2 s.
  let timer = null;
  let last = Date.now();
  const unsubscribe = subscribe(["stock_changed", "item_created", "item_updated", "item_deleted"], () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; last = Date.now(); load().catch(() => {}); }, Math.max(0, last + REFRESH_GAP - Date.now()));
  });
  return () => { unsubscribe(); clearTimeout(timer); };
}

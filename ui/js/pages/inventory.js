// The inventory table: filters, sort and page live in the hash query (a filtered view is a link, and
// back/forward work), the chosen columns in localStorage. An exact-SKU field for USB scanners, row
// selection for labels, CSV export of the current filter, and live updates of the rows in place.

import { all, api } from "../api.js";
import { downloadItems } from "../csv.js";
import { clearErrors, fill, fmt, h, heading, pager, problemText, showErrors, toast, uid } from "../dom.js";
import { subscribe } from "../live.js";
import * as router from "../router.js";
import * as session from "../session.js";

const FILTERS = ["search", "category_id", "location_id", "min_quantity", "max_quantity", "below_threshold"];
const COLUMNS_KEY = "ims.inventory.columns";
const COLUMNS = [
  { key: "sku", label: "SKU", sort: "sku" },
  { key: "name", label: "Name", sort: "name", fixed: true },
  { key: "category", label: "Category" },
  { key: "location", label: "Location" },
  { key: "quantity", label: "Quantity", sort: "quantity", num: true },
  { key: "unit", label: "Unit" },
  { key: "price", label: "Price", sort: "price", num: true },
  { key: "threshold", label: "Threshold", num: true },
  { key: "updated_at", label: "Updated", sort: "updated_at" },
];
const DEFAULT_COLUMNS = ["sku", "name", "category", "location", "quantity", "price"];

// Chosen rows survive filtering and paging (select across pages, then print their labels).
const selected = new Set();
// The control that changed a filter: focused again after the page is drawn for the new query.
let refocus = null;

// Category and location names for the selects and cells, read once and dropped when one changes.
let choices = null;
function loadChoices() {
  if (!choices) {
    choices = Promise.all([all("/categories"), all("/locations")]).catch((error) => { choices = null; throw error; });
  }
  return choices;
}
subscribe(["category_changed", "location_changed"], () => { choices = null; });

function chosenColumns() {
  try {
    const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY));
    if (Array.isArray(saved)) return new Set([...saved.filter((k) => COLUMNS.some((c) => c.key === k)), "name"]);
  } catch { /* an unreadable choice falls back to the default */ }
  return new Set(DEFAULT_COLUMNS);
}

function itemsQuery(query) {
  const q = {};
  for (const key of FILTERS) if (query.get(key)) q[key] = query.get(key);
  q.sort_by = query.get("sort_by") || "name";
  q.order = query.get("order") === "desc" ? "desc" : "asc";
  return q;
}

async function exportCsv(filters, button) {
  button.disabled = true;
  const label = button.textContent;
  try {
    button.textContent = "Exporting…";
    await downloadItems(filters, (n) => { button.textContent = `Exporting… (${n})`; });
  } catch (error) {
    toast(`Export failed: ${problemText(error)}`, "error");
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function skuFinder() {
  const status = h("p", { class: "sku-status", role: "status" });
  const form = h("form", { class: "sku-find", role: "search", "aria-label": "Find by SKU", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "inventory-sku" }, "Exact SKU"),
      h("div", { class: "inline" },
        h("input", { id: "inventory-sku", name: "sku", autocomplete: "off", autocapitalize: "off", spellcheck: "false",
          placeholder: "Scan or type a SKU", enterkeyhint: "go" }),
        h("button", { type: "submit" }, "Go"))),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sku = form.sku.value.trim();
    if (!sku) return;
    status.textContent = "";
    try {
      const answer = await api("/items", { query: { sku, per_page: 1 } });
      if (answer.data.length) { router.go(`/items/${answer.data[0].id}`); return; }
      status.textContent = `No item with SKU ${sku}.`;
    } catch (error) {
      status.textContent = error.status === 422 ? `No item with SKU ${sku}.` : problemText(error);
    }
    form.sku.select();
  });
  return form;
}

function filterForm(query, categories, locations, apply) {
  const value = (key) => query.get(key) || "";
  const input = (label, name, attrs = {}) => {
    const id = uid();
    return h("div", { class: "field", dataset: { field: name } },
      h("label", { for: id }, label),
      attrs.type === "select"
        ? h("select", { id, name }, attrs.options.map(([v, text]) => h("option", { value: String(v), selected: String(v) === value(name) }, text)))
        : h("input", { id, name, value: value(name), ...attrs }),
      h("small", { class: "error", hidden: true }));
  };
  const form = h("form", { class: "filters card", role: "search", "aria-label": "Filter items", novalidate: true },
    input("Search", "search", { type: "search", placeholder: "Name or SKU", maxlength: 100 }),
    input("Category", "category_id", { type: "select", options: [["", "All categories"], ...categories.map((c) => [c.id, c.name])] }),
    input("Location", "location_id", { type: "select", options: [["", "All locations"], ...locations.map((l) => [l.id, l.name])] }),
    h("div", { class: "range" },
      input("Min quantity", "min_quantity", { type: "number", min: 0, inputmode: "numeric" }),
      input("Max quantity", "max_quantity", { type: "number", min: 0, inputmode: "numeric" })),
    h("div", { class: "field" }, h("label", { class: "check" },
      h("input", { type: "checkbox", name: "below_threshold", checked: query.get("below_threshold") === "true" }),
      "Below threshold only")),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Apply"),
      h("a", { class: "button", href: router.href("/items", { sort_by: query.get("sort_by"), order: query.get("order") }) }, "Clear")));
  const read = () => {
    const out = {};
    for (const key of FILTERS) {
      const el = form.elements[key];
      const v = el.type === "checkbox" ? (el.checked ? "true" : "") : el.value.trim();
      if (v) out[key] = v;
    }
    return out;
  };
  // The page is drawn again for the new query: the control the user is in keeps the focus.
  const submit = () => {
    clearTimeout(typing);
    refocus = form.contains(document.activeElement) ? document.activeElement.name || null : null;
    apply(read());
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  // Choices apply at once; typed numbers on Enter or Apply (applying on blur would pull the focus
  // back while the user moves to the next field); the search after a pause in typing.
  form.addEventListener("change", (event) => { if (event.target.tagName === "SELECT" || event.target.type === "checkbox") submit(); });
  let typing = null;
  form.elements.search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(submit, 600);
  });
  form.stop = () => clearTimeout(typing);
  return form;
}

function columnChooser(columns, redraw) {
  return h("details", { class: "column-chooser" },
    h("summary", {}, "Columns"),
    h("fieldset", {}, h("legend", {}, "Show columns"),
      COLUMNS.map((c) => h("label", { class: "check" },
        h("input", { type: "checkbox", name: `column-${c.key}`, checked: columns.has(c.key), disabled: c.fixed,
          onchange: (event) => {
            if (event.target.checked) columns.add(c.key); else columns.delete(c.key);
            localStorage.setItem(COLUMNS_KEY, JSON.stringify(COLUMNS.map((x) => x.key).filter((k) => columns.has(k))));
            redraw();
          } }),
        c.label))));
}

export async function render(root, { query }) {
  const filters = itemsQuery(query);
  const page = Math.max(1, Number(query.get("page")) || 1);
  const perPage = [25, 50, 100].includes(Number(query.get("per_page"))) ? Number(query.get("per_page")) : 25;
  const columns = chosenColumns();
  const manager = session.isManager();

  const go = (changes) => {
    const next = { ...Object.fromEntries(query), ...changes };
    if (next.page === 1 || next.page === "1") delete next.page;
    if (next.per_page === 25 || next.per_page === "25") delete next.per_page;
    router.go("/items", next);
  };
  const apply = (values) => {
    const next = { sort_by: query.get("sort_by"), order: query.get("order"), per_page: query.get("per_page"), ...values };
    router.go("/items", next);
  };

  const [categories, locations] = await loadChoices();
  const categoryName = new Map(categories.map((c) => [c.id, c.name]));
  const locationName = new Map(locations.map((l) => [l.id, l.name]));

  const form = filterForm(query, categories, locations, apply);
  const tableArea = h("div", { class: "table-area", "aria-live": "polite", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  const pagerArea = h("div");
  const printButton = h("button", { type: "button", onclick: () => router.go("/labels", { ids: [...selected].join(",") }) });
  const clearSelection = h("button", { type: "button", onclick: () => { selected.clear(); drawTable(); } }, "Clear selection");
  const exportButton = h("button", { type: "button", onclick: () => exportCsv(filters, exportButton) }, "Export CSV");
  const perPageSelect = h("select", { id: "inventory-per-page", onchange: (event) => go({ per_page: event.target.value, page: 1 }) },
    [25, 50, 100].map((n) => h("option", { value: String(n), selected: n === perPage }, String(n))));

  root.append(
    heading("Inventory",
      manager ? h("a", { class: "button primary", href: "#/items/new" }, "New item") : null,
      exportButton),
    skuFinder(),
    form,
    h("div", { class: "table-tools" },
      h("div", { class: "actions" }, printButton, clearSelection),
      h("div", { class: "actions" },
        h("div", { class: "check" }, h("label", { for: "inventory-per-page" }, "Rows per page"), perPageSelect),
        columnChooser(columns, () => drawTable()))),
    tableArea,
    pagerArea);
  updateSelectionButtons();
  if (refocus && form.elements[refocus]) {
    const el = form.elements[refocus];
    el.focus();
    if (el.type === "search") el.setSelectionRange(el.value.length, el.value.length);
  }
  refocus = null;

  let answer = null;
  const rows = new Map(); // item id -> <tr>

  function updateSelectionButtons() {
    printButton.textContent = selected.size ? `Print labels (${selected.size})` : "Print labels";
    printButton.disabled = selected.size === 0;
    clearSelection.hidden = selected.size === 0;
  }

  function cell(column, item) {
    switch (column.key) {
      case "sku": return h("td", { class: "sku" }, item.sku);
      case "name": return h("th", { scope: "row" }, h("a", { href: `#/items/${item.id}` }, item.name));
      case "category": return h("td", {}, categoryName.get(item.category_id) || "—");
      case "location": return h("td", {}, locationName.get(item.location_id) || "—");
      case "quantity": return h("td", { class: "num", dataset: { col: "quantity" } }, fmt.number(item.quantity),
        item.is_low_stock ? [" ", h("span", { class: "badge low" }, "Low")] : null);
      case "unit": return h("td", {}, item.unit);
      case "price": return h("td", { class: "num" }, fmt.money(item.price));
      case "threshold": return h("td", { class: "num" }, fmt.number(item.low_stock_threshold));
      case "updated_at": return h("td", {}, fmt.datetime(item.updated_at));
      default: return h("td");
    }
  }

  function row(item) {
    const box = h("input", { type: "checkbox", checked: selected.has(item.id), onchange: (event) => {
      if (event.target.checked) selected.add(item.id); else selected.delete(item.id);
      updateSelectionButtons();
      syncAllBox();
    } });
    const tr = h("tr", { class: item.is_low_stock ? "low" : null, dataset: { id: String(item.id) } },
      h("td", { class: "select" }, h("label", {}, box, h("span", { class: "sr-only" }, `Select ${item.name}`))),
      COLUMNS.filter((c) => columns.has(c.key)).map((c) => cell(c, item)));
    tr.item = item;
    return tr;
  }

  let allBox = null;
  function syncAllBox() {
    if (!allBox || !answer) return;
    const ids = answer.data.map((i) => i.id);
    const count = ids.filter((id) => selected.has(id)).length;
    allBox.checked = ids.length > 0 && count === ids.length;
    allBox.indeterminate = count > 0 && count < ids.length;
  }

  function header(column) {
    if (!column.sort) return h("th", { scope: "col", class: column.num ? "num" : null }, column.label);
    const active = filters.sort_by === column.sort;
    const next = active && filters.order === "asc" ? "desc" : "asc";
    return h("th", { scope: "col", class: column.num ? "num" : null,
      "aria-sort": active ? (filters.order === "asc" ? "ascending" : "descending") : "none" },
    h("button", { type: "button", class: "sort", onclick: () => go({ sort_by: column.sort, order: next, page: 1 }) },
      column.label, h("span", { "aria-hidden": "true" }, active ? (filters.order === "asc" ? " ▲" : " ▼") : "")));
  }

  function drawTable() {
    updateSelectionButtons();
    if (!answer) return;
    rows.clear();
    if (answer.data.length === 0) {
      const filtered = FILTERS.some((k) => query.get(k));
      fill(tableArea, h("p", { class: "empty" }, filtered ? "No items match these filters." : "No items yet."));
      fill(pagerArea);
      return;
    }
    allBox = h("input", { type: "checkbox", onchange: (event) => {
      for (const item of answer.data) { if (event.target.checked) selected.add(item.id); else selected.delete(item.id); }
      drawTable();
    } });
    const body = h("tbody", {}, answer.data.map((item) => {
      const tr = row(item);
      rows.set(item.id, tr);
      return tr;
    }));
    fill(tableArea, h("div", { class: "table-wrap" }, h("table", { class: "inventory" },
      h("caption", { class: "sr-only" }, "Items"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", class: "select" }, h("label", {}, allBox, h("span", { class: "sr-only" }, "Select all on this page"))),
        COLUMNS.filter((c) => columns.has(c.key)).map(header))),
      body)));
    syncAllBox();
    fill(pagerArea, pager(answer, (n) => go({ page: n })));
  }

  async function load() {
    tableArea.setAttribute("aria-busy", "true");
    try {
      answer = await api("/items", { query: { ...filters, page, per_page: perPage } });
      clearErrors(form);
      drawTable();
    } catch (error) {
      if (error.status === 401) throw error;
      if (error.status === 422) showErrors(form, error);
      fill(tableArea, h("p", { class: "error", role: "alert" }, problemText(error)));
    } finally {
      tableArea.setAttribute("aria-busy", "false");
    }
  }
  await load();

  function replaceRow(item) {
    const old = rows.get(item.id);
    if (!old) return;
    const index = answer.data.findIndex((i) => i.id === item.id);
    if (index >= 0) answer.data[index] = item;
    const tr = row(item);
    tr.classList.add("changed");
    old.replaceWith(tr);
    rows.set(item.id, tr);
  }

  // New or deleted items shift the page: reload it, once per burst.
  let reloading = null;
  const reloadSoon = () => {
    if (reloading) return;
    reloading = setTimeout(() => { reloading = null; load().catch(() => {}); }, 1000);
  };

  const unsubscribe = subscribe(["stock_changed", "item_updated", "item_created", "item_deleted"], (event) => {
    const d = event.data;
    if (event.event === "stock_changed") {
      const tr = rows.get(d.item_id);
      if (tr && tr.item.version < d.version) {
        replaceRow({ ...tr.item, quantity: d.quantity, is_low_stock: d.is_low_stock,
          low_stock_threshold: d.low_stock_threshold, version: d.version, updated_at: event.ts || tr.item.updated_at });
      }
    } else if (event.event === "item_updated") {
      const tr = rows.get(d.item.id);
      if (tr && tr.item.version < d.item.version) replaceRow(d.item);
    } else if (event.event === "item_deleted") {
      rows.get(d.item_id)?.remove();
      rows.delete(d.item_id);
      selected.delete(d.item_id);
      updateSelectionButtons();
      reloadSoon();
    } else {
      reloadSoon();
    }
  });

  return () => { unsubscribe(); clearTimeout(reloading); form.stop(); };
}

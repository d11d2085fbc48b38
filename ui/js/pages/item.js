// One item: its fields, quick restock / withdraw / count, its stock history (chart and table), and for
// managers edit (If-Match on the version, a conflict shown with both versions), delete and labels.
// Live events for this item update the page in place.

import { all, api, movement, newKey } from "../api.js";
import * as charts from "../charts.js";
import { clearErrors, confirmDialog, field, fill, fmt, h, heading, pager, problemText, showErrors, toast } from "../dom.js";
import { subscribe } from "../live.js";
import * as router from "../router.js";
import * as session from "../session.js";

const ACTIONS = { create: "Created", update: "Edited", delete: "Deleted", restock: "Restock", withdraw: "Withdrawal", count: "Count" };
const HISTORY_PER_PAGE = 20;
const CHART_POINTS = 100;
// The fields the edit form changes (quantity moves only through restock, withdraw and count).
const EDITABLE = [
  ["name", "Name"], ["sku", "SKU"], ["description", "Description"], ["category_id", "Category"],
  ["location_id", "Location"], ["unit", "Unit"], ["price", "Price"], ["low_stock_threshold", "Low-stock threshold"],
];

/** An item's field as the form holds it (a string). */
const formValue = (item, key) => (item[key] === null || item[key] === undefined ? "" : String(item[key]));

/** The PATCH body for the form values that differ from `base`. */
function changes(values, base) {
  const out = {};
  for (const [key] of EDITABLE) {
    const v = values[key] ?? "";
    if (v === formValue(base, key)) continue;
    if (key === "category_id" || key === "location_id") out[key] = v === "" ? null : Number(v);
    else if (key === "low_stock_threshold") out[key] = v === "" ? v : Number(v);
    else if (key === "description" || key === "price") out[key] = v.trim() === "" ? null : v.trim();
    else out[key] = v.trim();
  }
  return out;
}

/** sku_taken answers name no field: put it on the SKU input. */
function onSku(error) {
  if (error.code === "sku_taken" && !error.errors.length) error.errors = [{ loc: ["sku"], msg: error.detail }];
  return error;
}

export async function render(root, { id, query }) {
  const itemId = Number(id);
  if (!Number.isInteger(itemId) || itemId < 1) {
    root.append(h("h1", {}, "Not found"), h("p", {}, "There is no such item."));
    return undefined;
  }
  const manager = session.isManager();
  const me = session.user();
  let item = await api(`/items/${itemId}`);
  const [categories, locations, users] = await Promise.all([
    all("/categories"), all("/locations"),
    manager ? all("/users").catch(() => []) : Promise.resolve([]),
  ]);
  const categoryName = new Map(categories.map((c) => [c.id, c.name]));
  const locationName = new Map(locations.map((l) => [l.id, l.name]));
  const userName = new Map(users.map((u) => [u.id, u.full_name]));
  const who = (userId) => {
    if (userId === null || userId === undefined) return "—";
    if (me && userId === me.id) return `${me.full_name} (you)`;
    return userName.get(userId) || `User #${userId}`;
  };
  let deleted = false;

  // --- the fields --------------------------------------------------------------------------------
  const title = h("h1", {});
  const details = h("dl", { class: "details" });
  const notice = h("div", { role: "alert", class: "item-notice", hidden: true });
  const detailsCard = h("section", { class: "card", "aria-labelledby": "item-details" },
    h("h2", { id: "item-details" }, "Details"), details);

  function drawDetails(changed = false) {
    title.textContent = item.name;
    const row = (label, value, cls) => [h("dt", {}, label), h("dd", { class: cls || null }, value)];
    fill(details,
      row("SKU", item.sku, "sku"),
      row("Quantity", [h("span", { class: "quantity", dataset: { quantity: String(item.quantity) } }, `${fmt.number(item.quantity)} ${item.unit}`),
        item.is_low_stock ? [" ", h("span", { class: "badge low" }, "Low stock")] : null]),
      row("Low-stock threshold", fmt.number(item.low_stock_threshold)),
      row("Category", categoryName.get(item.category_id) || "—"),
      row("Location", locationName.get(item.location_id) || "—"),
      row("Unit", item.unit),
      row("Price", fmt.money(item.price)),
      row("Description", item.description || "—", "description"),
      row("Created", fmt.datetime(item.created_at)),
      row("Updated", `${fmt.datetime(item.updated_at)} (version ${fmt.number(item.version)})`));
    detailsCard.classList.toggle("low", item.is_low_stock);
    if (changed) {
      detailsCard.classList.remove("changed");
      void detailsCard.offsetWidth; // restart the highlight
      detailsCard.classList.add("changed");
    }
  }

  // --- quick movements ---------------------------------------------------------------------------
  // One Idempotency-Key per submission; the same submission again (a retry after a failure, or a second
  // click while the first is on its way) reuses it, so stock moves once.
  let attempt = null; // {action, quantity, notes, key} not yet known to have succeeded
  let moving = false;
  const moveStatus = h("p", { role: "status", class: "move-status" });
  const moveForm = h("form", { class: "movement", novalidate: true, "aria-labelledby": "item-move" },
    h("h2", { id: "item-move" }, "Stock movement"),
    field("Quantity", { name: "quantity", type: "number", min: 1, step: 1, inputmode: "numeric", required: true,
      hint: "Restock and withdraw move this many; count sets the stock to it." }),
    field("Notes", { name: "notes", maxlength: 500, hint: "Kept in the history with a restock or withdrawal." }),
    h("div", { class: "actions" },
      h("button", { type: "submit", value: "restock", class: "primary" }, "Restock"),
      h("button", { type: "submit", value: "withdraw" }, "Withdraw"),
      h("button", { type: "submit", value: "count" }, "Count")),
    moveStatus);

  moveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value || "restock";
    const quantity = Number(moveForm.quantity.value);
    const notes = moveForm.notes.value.trim();
    if (moving) return;
    clearErrors(moveForm);
    moveStatus.textContent = "";
    const valid = action === "count" ? quantity >= 0 : quantity >= 1;
    if (moveForm.quantity.value === "" || !Number.isInteger(quantity) || !valid) {
      showErrors(moveForm, { detail: "", errors: [{ loc: ["quantity"], msg: action === "count"
        ? "Enter the counted quantity (a whole number, 0 or more)." : "Enter a whole number of 1 or more." }] });
      return;
    }
    if (!attempt || attempt.action !== action || attempt.quantity !== quantity || attempt.notes !== notes) {
      attempt = { action, quantity, notes, key: newKey() };
    }
    moving = true;
    const buttons = moveForm.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const saved = await movement(item, action, quantity, notes, attempt.key);
      attempt = null;
      const before = item.quantity;
      if (saved.version >= item.version) item = saved;
      drawDetails(true);
      moveForm.reset();
      const verb = { restock: "Restocked", withdraw: "Withdrew", count: "Counted" }[action];
      moveStatus.textContent = action === "count"
        ? `${verb}: ${fmt.number(before)} → ${fmt.number(saved.quantity)}.`
        : `${verb} ${fmt.number(quantity)}. Now ${fmt.number(saved.quantity)} in stock.`;
      loadHistory();
    } catch (error) {
      if (error.status === 401) throw error;
      if (error.code === "insufficient_stock") {
        attempt = null; // refused: nothing moved, a retry is a new submission
        showErrors(moveForm, { detail: `Not enough stock: only ${fmt.number(error.problem.available)} available.`,
          errors: [{ loc: ["quantity"], msg: `At most ${fmt.number(error.problem.available)}.` }] });
      } else if (error.status === 412) {
        attempt = null;
        await refreshItem();
        showErrors(moveForm, { detail: `The stock changed meanwhile: it is now ${fmt.number(item.quantity)}. Check and count again.` });
      } else {
        showErrors(moveForm, error.status ? error : { detail: `${problemText(error)} Submit again to retry; it will not be counted twice.` });
      }
    } finally {
      moving = false;
      buttons.forEach((b) => { b.disabled = deleted; });
    }
  });

  // --- history -----------------------------------------------------------------------------------
  let historyPage = 1;
  const chartArea = h("div", { class: "history-chart" });
  const tableArea = h("div", { "aria-live": "polite" });
  const historyCard = h("section", { class: "card", "aria-labelledby": "item-history" },
    h("h2", { id: "item-history" }, "Stock history"), chartArea, tableArea);

  async function loadHistory() {
    try {
      const [recent, page] = await Promise.all([
        api(`/logs/item/${itemId}`, { query: { per_page: CHART_POINTS } }),
        historyPage === 1 ? null : api(`/logs/item/${itemId}`, { query: { page: historyPage, per_page: HISTORY_PER_PAGE } }),
      ]);
      const points = recent.data.slice().reverse().map((e) => ({ t: e.created_at, v: e.quantity_after }));
      if (points.length && !deleted) points.push({ t: new Date().toISOString(), v: item.quantity });
      fill(chartArea, charts.line(points, { label: `Quantity of ${item.name} over time`, threshold: item.low_stock_threshold }));
      const shown = page || { ...recent, data: recent.data.slice(0, HISTORY_PER_PAGE), per_page: HISTORY_PER_PAGE };
      drawHistory(shown);
    } catch (error) {
      if (error.status === 401) throw error;
      fill(tableArea, h("p", { class: "error", role: "alert" }, problemText(error)));
    }
  }

  function drawHistory(page) {
    if (page.data.length === 0) { fill(tableArea, h("p", { class: "muted" }, "No history yet.")); return; }
    fill(tableArea,
      h("div", { class: "table-wrap" }, h("table", {},
        h("caption", { class: "sr-only" }, "Stock history, newest first"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, "Action"), h("th", { scope: "col", class: "num" }, "Change"),
          h("th", { scope: "col", class: "num" }, "Before → after"), h("th", { scope: "col" }, "User"), h("th", { scope: "col" }, "Notes"))),
        h("tbody", {}, page.data.map((e) => h("tr", {},
          h("td", {}, fmt.datetime(e.created_at)),
          h("td", {}, ACTIONS[e.action] || e.action),
          h("td", { class: `num ${e.delta > 0 ? "up" : e.delta < 0 ? "down" : ""}` }, e.delta > 0 ? `+${fmt.number(e.delta)}` : fmt.number(e.delta)),
          h("td", { class: "num" }, `${fmt.number(e.quantity_before)} → ${fmt.number(e.quantity_after)}`),
          h("td", {}, who(e.user_id)),
          h("td", {}, e.notes || "")))))),
      pager({ ...page, per_page: HISTORY_PER_PAGE }, (n) => { historyPage = n; loadHistory(); }));
  }

  // --- edit, conflict, delete (managers) ---------------------------------------------------------
  const editArea = h("div");
  let editBase = null; // the item as it was when the form was filled: the If-Match version and the diff base

  function editForm(values) {
    const options = (rows, none) => [["", none], ...rows.map((r) => [r.id, r.name])];
    const form = h("form", { class: "card grid-form", novalidate: true, "aria-labelledby": "item-edit" },
      h("h2", { id: "item-edit", class: "wide" }, "Edit item"),
      field("Name", { name: "name", required: true, maxlength: 200, value: values.name }),
      field("SKU", { name: "sku", required: true, maxlength: 64, value: values.sku, autocapitalize: "off", spellcheck: "false" }),
      field("Category", { type: "select", name: "category_id", value: values.category_id, options: options(categories, "None") }),
      field("Location", { type: "select", name: "location_id", value: values.location_id, options: options(locations, "None") }),
      field("Unit", { name: "unit", required: true, maxlength: 20, value: values.unit }),
      field("Price", { name: "price", inputmode: "decimal", value: values.price, hint: "Empty for none." }),
      field("Low-stock threshold", { name: "low_stock_threshold", type: "number", min: 0, step: 1, value: values.low_stock_threshold }),
      h("div", { class: "wide" }, field("Description", { type: "textarea", name: "description", maxlength: 2000, value: values.description })),
      h("div", { class: "actions wide" },
        h("button", { type: "submit", class: "primary" }, "Save"),
        h("button", { type: "button", onclick: closeEdit }, "Cancel")));
    form.querySelector("textarea").value = values.description;
    form.addEventListener("submit", (event) => { event.preventDefault(); save(form); });
    return form;
  }

  function openEdit(values = null, base = item) {
    editBase = base;
    const form = editForm(values || Object.fromEntries(EDITABLE.map(([k]) => [k, formValue(base, k)])));
    fill(editArea, form);
    form.elements.name.focus();
  }

  function closeEdit() {
    editBase = null;
    fill(editArea);
  }

  const readForm = (form) => Object.fromEntries(EDITABLE.map(([k]) => [k, form.elements[k].value]));

  async function save(form) {
    const values = readForm(form);
    const body = changes(values, editBase);
    if (Object.keys(body).length === 0) { closeEdit(); toast("Nothing changed."); return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const saved = await api(`/items/${itemId}`, { method: "PATCH", body, ifMatch: editBase.version });
      if (saved.version >= item.version) item = saved;
      closeEdit();
      drawDetails(true);
      toast("Saved.", "ok");
      loadHistory();
    } catch (error) {
      if (error.status === 401) throw error;
      if (error.status === 412) { await conflict(values); return; }
      showErrors(form, onSku(error));
    } finally {
      button.disabled = false;
    }
  }

  /** Someone saved first: show both versions, then go on from theirs or drop ours. */
  async function conflict(values) {
    const base = editBase;
    let current;
    try {
      current = await api(`/items/${itemId}`);
    } catch (error) {
      if (error.status === 404) { markDeleted(); return; }
      throw error;
    }
    item = current;
    drawDetails(true);
    // Our edits re-applied on their version: what we changed wins, the rest is theirs.
    const rebased = Object.fromEntries(EDITABLE.map(([k]) => [k, values[k] !== formValue(base, k) ? values[k] : formValue(current, k)]));
    const othersChanged = EDITABLE.some(([k]) => formValue(current, k) !== formValue(base, k));
    if (!othersChanged) { // only the stock moved meanwhile: nothing to decide, save on the new version
      openEdit(rebased, current);
      save(editArea.querySelector("form"));
      return;
    }
    const shown = (key, v) => {
      if (key === "category_id") return categoryName.get(Number(v)) || "—";
      if (key === "location_id") return locationName.get(Number(v)) || "—";
      if (key === "price") return v === "" ? "—" : fmt.money(v);
      return v === "" ? "—" : v;
    };
    const dialog = h("dialog", { class: "conflict", "aria-labelledby": "conflict-title" },
      h("h2", { id: "conflict-title" }, "Someone saved this item first"),
      h("p", {}, `Your change was made on version ${fmt.number(base.version)}; the saved item is now version ${fmt.number(current.version)}. Differences are highlighted.`),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Your change"), h("th", { scope: "col" }, "Saved now"))),
        h("tbody", {}, EDITABLE.map(([k, label]) => {
          const mine = values[k];
          const theirs = formValue(current, k);
          return h("tr", { class: mine !== theirs ? "diff" : null, dataset: { field: k } },
            h("th", { scope: "row" }, label), h("td", {}, shown(k, mine)), h("td", {}, shown(k, theirs)));
        })))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => { dialog.close(); openEdit(rebased, current); } },
          "Keep editing on the current version"),
        h("button", { type: "button", onclick: () => { dialog.close(); closeEdit(); } }, "Discard my change")));
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  async function remove() {
    if (!(await confirmDialog(`Delete ${item.name} (${item.sku})? Its history is kept, but the item is gone.`, "Delete"))) return;
    try {
      await api(`/items/${itemId}`, { method: "DELETE" });
      deleted = true;
      toast(`Deleted ${item.name}.`, "ok");
      router.go("/items");
    } catch (error) {
      if (error.status === 401) throw error;
      toast(`Could not delete: ${problemText(error)}`, "error");
    }
  }

  function markDeleted() {
    deleted = true;
    closeEdit();
    notice.hidden = false;
    fill(notice, h("p", {}, "This item has been deleted. ", h("a", { href: "#/items" }, "Back to the inventory")));
    for (const el of root.querySelectorAll(".page-head button, .movement button, .movement input")) el.disabled = true;
  }

  async function refreshItem() {
    try {
      const fresh = await api(`/items/${itemId}`);
      if (fresh.version >= item.version) item = fresh;
      drawDetails(true);
    } catch (error) {
      if (error.status === 404) markDeleted();
      else if (error.status === 401) throw error;
    }
  }

  // --- the page ----------------------------------------------------------------------------------
  const head = heading("", [
    manager ? h("button", { type: "button", onclick: () => openEdit() }, "Edit") : null,
    h("a", { class: "button", href: router.href("/labels", { ids: itemId }) }, "Print label"),
    manager ? h("button", { type: "button", class: "danger", onclick: remove }, "Delete") : null,
  ]);
  head.querySelector("h1").replaceWith(title);
  root.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/items" }, "Inventory")),
    head, notice, editArea,
    h("div", { class: "columns" }, detailsCard, h("section", { class: "card" }, moveForm)),
    historyCard);
  drawDetails();
  await loadHistory();
  if (query.get("focus") === "movement") moveForm.quantity.focus();

  let historyTimer = null;
  const historySoon = () => {
    clearTimeout(historyTimer);
    historyTimer = setTimeout(loadHistory, 300);
  };
  const unsubscribe = subscribe(["stock_changed", "item_updated", "item_deleted"], (event) => {
    const d = event.data;
    if (event.event === "stock_changed" && d.item_id === itemId) {
      if (d.version > item.version) {
        item = { ...item, quantity: d.quantity, is_low_stock: d.is_low_stock, low_stock_threshold: d.low_stock_threshold,
          version: d.version, updated_at: event.ts || item.updated_at };
        drawDetails(true);
      }
      historySoon();
    } else if (event.event === "item_updated" && d.item.id === itemId) {
      if (d.item.version >= item.version) { item = d.item; drawDetails(true); }
      if (d.changed.includes("quantity")) historySoon();
    } else if (event.event === "item_deleted" && d.item_id === itemId) {
      markDeleted();
    }
  });
  return () => { unsubscribe(); clearTimeout(historyTimer); };
}

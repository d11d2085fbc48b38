// Categories and locations: the same small shape (a name, a description, for locations an address),
// so one list page serves both (categories.js and locations.js only describe their kind).

import { api } from "../api.js";
import { fieldError, formDialog } from "../dialog.js";
import { confirmDialog, field, fmt, h, heading, pager, problemText, toast } from "../dom.js";
import * as live from "../live.js";
import * as router from "../router.js";
import * as session from "../session.js";

/**
 * kind: {path, title, noun, event, key (the event's payload key), filter (the items query parameter),
 * orphans (what its items become when it is deleted), extra ([name, label] fields beyond name and
 * description), counts (async () => Map id -> item count, or null when not cheap to know)}.
 */
export async function renderCatalog(root, { query }, kind) {
  const manager = session.isManager();
  const page = Math.max(1, Number(query.get("page")) || 1);
  const [answer, counts] = await Promise.all([
    api(kind.path, { query: { page, per_page: 100 } }), // the most the API gives: most teams have fewer
    kind.counts ? kind.counts().catch(() => null) : null,
  ]);
  const rows = answer.data;
  const columns = [["name", "Name"], ["description", "Description"], ...kind.extra];

  const body = h("tbody");
  const empty = h("p", { class: "muted" }, `No ${kind.noun} yet.`);
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, kind.title),
    h("thead", {}, h("tr", {},
      columns.map(([, label]) => h("th", { scope: "col" }, label)),
      counts ? h("th", { scope: "col", class: "num" }, "Items") : null,
      manager ? h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")) : null)),
    body));

  function row(entry) {
    const count = counts ? counts.get(entry.id) ?? 0 : null;
    return h("tr", { dataset: { id: entry.id } },
      columns.map(([name], i) => (i === 0
        ? h("th", { scope: "row" }, h("a", { href: router.href("/items", { [kind.filter]: entry.id }) }, entry.name))
        : h("td", {}, entry[name] || ""))),
      counts ? h("td", { class: "num" }, fmt.number(count)) : null,
      manager ? h("td", { class: "row-actions" },
        h("button", { type: "button", "aria-label": `Edit ${entry.name}`, onclick: () => edit(entry) }, "Edit"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${entry.name}`, onclick: () => remove(entry) }, "Delete"))
        : null);
  }

  function show() {
    body.replaceChildren(...rows.map(row));
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
  }

  /** Put `entry` into the list (new, or changed in place), marked briefly. */
  function upsert(entry) {
    const at = rows.findIndex((r) => r.id === entry.id);
    if (at >= 0) rows[at] = entry;
    else {
      // A new one goes where the name order puts it, if that is on this page.
      const before = rows.findIndex((r) => r.name.toLowerCase() > entry.name.toLowerCase());
      if (before < 0 && rows.length >= answer.per_page) return;
      rows.splice(before < 0 ? rows.length : before, 0, entry);
      answer.total += 1;
    }
    show();
    body.querySelector(`tr[data-id="${entry.id}"]`)?.classList.add("changed");
  }

  function drop(id) {
    const at = rows.findIndex((r) => r.id === id);
    if (at < 0) return;
    rows.splice(at, 1);
    answer.total = Math.max(0, answer.total - 1);
    show();
  }

  function form(entry, submitLabel, send) {
    const fields = [
      field("Name", { name: "name", required: true, maxlength: 100, value: entry?.name ?? "" }),
      field("Description", { name: "description", type: "textarea", maxlength: 2000, value: entry?.description ?? "" }),
      kind.extra.map(([name, label]) => field(label, { name, type: "textarea", maxlength: 2000, value: entry?.[name] ?? "" })),
    ];
    return formDialog(entry ? `Edit ${kind.noun} ${entry.name}` : `New ${kind.noun}`, fields, submitLabel, async (data) => {
      const payload = { name: data.name.trim() };
      for (const name of ["description", ...kind.extra.map(([n]) => n)]) payload[name] = data[name].trim() || null;
      try {
        return await send(payload);
      } catch (error) {
        if (error.code === "name_taken") throw fieldError("name", "This name is taken.", error.detail);
        throw error;
      }
    });
  }

  async function add() {
    const created = await form(null, "Create", (body) => api(kind.path, { method: "POST", body }));
    if (created) { upsert(created); toast(`${created.name} created.`, "ok"); }
  }

  async function edit(entry) {
    const saved = await form(entry, "Save", (body) => api(`${kind.path}/${entry.id}`, { method: "PUT", body }));
    if (saved) { upsert(saved); toast(`${saved.name} saved.`, "ok"); }
  }

  async function remove(entry) {
    const count = counts?.get(entry.id);
    const items = count ? `Its ${fmt.number(count)} item${count === 1 ? "" : "s"}` : "Its items";
    if (!await confirmDialog(`Delete ${kind.noun} ${entry.name}? ${items} are kept and become ${kind.orphans}.`, "Delete")) return;
    try {
      await api(`${kind.path}/${entry.id}`, { method: "DELETE" });
      drop(entry.id);
      toast(`${entry.name} deleted.`, "ok");
    } catch (error) {
      if (error.status === 404) drop(entry.id);
      toast(problemText(error), "error");
    }
  }

  const pages = h("div");
  const showPager = () => pages.replaceChildren(answer.total > answer.per_page
    ? pager(answer, (p) => router.go(kind.path, { page: p })) : "");
  root.append(
    heading(kind.title, manager ? h("button", { type: "button", class: "primary", onclick: add }, `Add ${kind.noun}`) : null),
    ...(manager ? [] : [h("p", { class: "muted" }, `Managers add, rename and delete ${kind.title.toLowerCase()}.`)]),
    empty, table, pages);
  show();
  showPager();

  return live.subscribe(kind.event, (event) => {
    const entry = event.data[kind.key];
    if (event.data.action === "deleted") drop(entry.id);
    else upsert(entry);
    showPager();
  });
}

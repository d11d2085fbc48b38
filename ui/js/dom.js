// Building blocks every page uses: an element builder, locale formatters, form fields that show the
// API's problem details next to the right input, toasts, a confirm dialog and a pager.

let ids = 0;

/** A fresh id for pairing labels, hints and errors with their input. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/**
 * h("button", {class: "primary", onclick: fn}, "Save") -> <button class="primary">Save</button>.
 * Attributes: `class`, `on<event>` listeners, `dataset` (an object), booleans (true sets, false omits),
 * `value`/`checked`/`selected` as properties; children: nodes, strings, numbers, arrays; null/false skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "rect", "line", "path", "text", "title", "circle", "polyline"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "selected") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace everything in `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Numbers and dates in the browser's locale.
const numbers = new Intl.NumberFormat(undefined);
const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const dates = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const times = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

export const fmt = {
  number: (n) => (n === null || n === undefined ? "—" : numbers.format(n)),
  /** 1.2K, 35M: for chart axes, where a full number would not fit. */
  compact: (n) => compact.format(n),
  money: (s) => (s === null || s === undefined || s === "" ? "—" : money.format(Number(s))),
  date: (iso) => (iso ? dates.format(new Date(iso)) : "—"),
  datetime: (iso) => (iso ? times.format(new Date(iso)) : "—"),
  /** A UTC calendar day ("2026-11-30") in the locale's short form, without shifting it a day. */
  day: (ymd) => new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" })
    .format(new Date(`${ymd}T00:00:00Z`)),
  bytes: (n) => {
    if (n === null || n === undefined) return "—";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(n)} ${units[i]}`;
  },
};

/**
 * A labelled form field: field("Name", {name: "name", required: true}) or with `type: "select"`
 * (and `options: [[value, text], ...]`) or `type: "textarea"`. The input gets `name`; the error slot
 * is filled by showErrors.
 */
export function field(label, { type = "text", hint, options = [], ...attrs } = {}) {
  const id = uid();
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ");
  let input;
  if (type === "select") {
    input = h("select", { id, "aria-describedby": describedBy, ...attrs },
      options.map(([value, text]) => h("option", { value: String(value), selected: String(value) === String(attrs.value ?? "") }, text)));
  } else if (type === "textarea") {
    input = h("textarea", { id, "aria-describedby": describedBy, ...attrs });
  } else {
    input = h("input", { id, type, "aria-describedby": describedBy, ...attrs });
  }
  return h("div", { class: "field", dataset: { field: attrs.name || "" } },
    h("label", { for: id }, label),
    input,
    hint ? h("small", { id: hintId, class: "hint" }, hint) : null,
    h("small", { id: errorId, class: "error", hidden: true }));
}

/** Clear the errors shown in `form`. */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll(".field .error")) { slot.hidden = true; slot.textContent = ""; }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const summary = form.querySelector(".form-error");
  if (summary) summary.remove();
}

/**
 * Show an ApiError (problem+json) in `form`: each `errors[].loc` next to its input, the detail at the
 * top of the form. Anything else is shown as a generic message. Focus goes to the first bad input.
 */
export function showErrors(form, error) {
  clearErrors(form);
  const left = [];
  for (const e of error.errors || []) {
    const name = (e.loc || []).filter((part) => part !== "body" && part !== "query").join(".");
    const input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
    const slot = input && input.closest(".field")?.querySelector(".error");
    if (slot) {
      slot.textContent = e.msg;
      slot.hidden = false;
      input.setAttribute("aria-invalid", "true");
    } else left.push(name ? `${name}: ${e.msg}` : e.msg);
  }
  const text = [error.detail || error.title || String(error.message || error), ...left].filter(Boolean);
  form.prepend(h("div", { class: "form-error", role: "alert" }, text.map((line) => h("p", {}, line))));
  (form.querySelector("[aria-invalid]") || form.querySelector(".form-error")).focus?.();
}

/** A short message in the corner, read out by screen readers. */
export function toast(message, kind = "info") {
  const el = h("div", { class: `toast ${kind}` }, message);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmDialog(message, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-label": "Confirm" },
      h("form", { method: "dialog" },
        h("p", {}, message),
        h("div", { class: "actions" },
          h("button", { value: "cancel", type: "submit" }, "Cancel"),
          h("button", { value: "ok", type: "submit", class: "danger" }, confirmLabel))));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue === "ok"); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Previous / next and "page x of y" for a list answer {page, per_page, total}. */
export function pager({ page, per_page: perPage, total, total_estimated: estimated }, go) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  const about = estimated ? "about " : "";
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous"),
    h("span", {}, `Page ${fmt.number(page)} of ${about}${fmt.number(pages)} · ${about}${fmt.number(total)} in all`),
    h("button", { type: "button", disabled: page >= pages, onclick: () => go(page + 1) }, "Next"));
}

/** A summary card: a label over a big value; `kind` ("ok", "bad") colours the value. */
export function stat(label, value, kind = null) {
  return h("div", { class: "stat" }, h("div", { class: "label" }, label),
    h("div", { class: kind ? `value ${kind}` : "value" }, value));
}

/** A page heading with optional actions on the right. */
export function heading(title, ...actions) {
  return h("div", { class: "page-head" }, h("h1", {}, title), h("div", { class: "actions" }, actions));
}

/** The text of an error for a toast or a status line. */
export function problemText(error) {
  return error.detail || error.title || error.message || String(error);
}

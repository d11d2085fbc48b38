// #/alerts (managers): low-stock alerts, the open ones (not yet acknowledged) first with a button to
// acknowledge each, then the acknowledged ones by page; each with its e-mail's state. Live.

import { all, api } from "../api.js";
import { fmt, h, heading, pager, problemText, toast } from "../dom.js";
import * as live from "../live.js";
import * as router from "../router.js";

const PER_PAGE = 25;

function mail(alert) {
  const when = alert.mail_sent_at ? ` ${fmt.datetime(alert.mail_sent_at)}` : "";
  const tries = `${fmt.number(alert.mail_attempts)} attempt${alert.mail_attempts === 1 ? "" : "s"}`;
  switch (alert.mail_status) {
    case "sent": return h("span", {}, h("span", { class: "badge ok" }, "Sent"), when);
    case "logged": return h("span", { title: "No mail transport is configured: the message was logged" },
      h("span", { class: "badge" }, "Logged"), when);
    case "failed": return h("span", {}, h("span", { class: "badge bad" }, "Failed"), ` after ${tries}`,
      alert.mail_last_error ? h("small", { class: "muted" }, ` (${alert.mail_last_error})`) : null);
    case "skipped": return h("span", { class: "badge" }, "Not sent");
    default: return h("span", {}, h("span", { class: "badge low" }, "Pending"),
      alert.mail_attempts ? ` ${tries} so far` : "");
  }
}

export async function render(root, { query }) {
  const page = Math.max(1, Number(query.get("page")) || 1);
  let open = await all("/alerts", { acknowledged: false }, 500);
  const done = await api("/alerts", { query: { acknowledged: true, page, per_page: PER_PAGE } });

  const openBody = h("tbody");
  const doneBody = h("tbody");
  const openEmpty = h("p", { class: "muted" }, "No open alerts: nothing is waiting for you.");
  const doneEmpty = h("p", { class: "muted" }, "None yet.");
  const openCount = h("span");

  const table = (caption, tbody, withButton) => h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Item"),
      h("th", { scope: "col", class: "num" }, "Quantity"),
      h("th", { scope: "col" }, "Raised"),
      h("th", { scope: "col" }, "State"),
      h("th", { scope: "col" }, "E-mail"),
      withButton ? h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")) : null)),
    tbody));
  const openTable = table("Open alerts", openBody, true);
  const doneTable = table("Acknowledged alerts", doneBody, false);

  function row(alert, withButton) {
    const state = [alert.resolved_at
      ? h("span", { class: "badge ok" }, `Recovered ${fmt.datetime(alert.resolved_at)}`)
      : h("span", { class: "badge low" }, "Still low")];
    if (alert.acknowledged) state.push(h("br"), h("small", { class: "muted" }, `Acknowledged ${fmt.datetime(alert.acknowledged_at)}`));
    return h("tr", { dataset: { id: alert.id } },
      h("td", {}, h("a", { href: `#/items/${alert.item_id}` }, alert.item_name), h("br"), h("small", { class: "muted" }, alert.item_sku)),
      h("td", { class: "num" }, `${fmt.number(alert.quantity)} / ${fmt.number(alert.threshold)}`),
      h("td", {}, h("time", { datetime: alert.created_at }, fmt.datetime(alert.created_at))),
      h("td", {}, state),
      h("td", {}, mail(alert)),
      withButton ? h("td", {}, h("button", { type: "button", class: "primary", "aria-label": `Acknowledge the alert for ${alert.item_name}`,
        onclick: (event) => acknowledge(alert, event.currentTarget) }, "Acknowledge")) : null);
  }

  function show(marked = null) {
    openBody.replaceChildren(...open.map((a) => row(a, true)));
    doneBody.replaceChildren(...done.data.map((a) => row(a, false)));
    openTable.hidden = open.length === 0;
    openEmpty.hidden = open.length > 0;
    doneTable.hidden = done.data.length === 0;
    doneEmpty.hidden = done.data.length > 0;
    openCount.textContent = open.length ? ` (${fmt.number(open.length)})` : "";
    if (marked !== null) root.querySelectorAll(`tr[data-id="${marked}"]`).forEach((tr) => tr.classList.add("changed"));
    pages.replaceChildren(done.total > done.per_page ? pager(done, (p) => router.go("/alerts", { page: p })) : "");
  }

  /** An alert is now acknowledged: out of the open list, onto the first page of the others. */
  function acknowledged(alert) {
    open = open.filter((a) => a.id !== alert.id);
    if (page === 1 && !done.data.some((a) => a.id === alert.id)) {
      done.data.unshift(alert);
      if (done.data.length > PER_PAGE) done.data.pop();
      done.total += 1;
    }
    done.data = done.data.map((a) => (a.id === alert.id ? alert : a));
    show(alert.id);
  }

  async function acknowledge(alert, button) {
    button.disabled = true;
    try {
      acknowledged(await api(`/alerts/${alert.id}/acknowledge`, { method: "PATCH" }));
      toast(`Alert for ${alert.item_name} acknowledged.`, "ok");
    } catch (error) {
      button.disabled = false;
      toast(problemText(error), "error");
    }
  }

  const pages = h("div");
  root.append(heading("Alerts"),
    h("section", { "aria-labelledby": "alerts-open" }, h("h2", { id: "alerts-open" }, "Open", openCount), openEmpty, openTable),
    h("section", { "aria-labelledby": "alerts-done" }, h("h2", { id: "alerts-done" }, "Acknowledged"), doneEmpty, doneTable, pages));
  show();

  const stops = [
    live.subscribe("low_stock_alert", async (event) => {
      try {
        open = await all("/alerts", { acknowledged: false }, 500);
        show(event.data.alert_id);
      } catch { /* the next event or a reload shows it */ }
    }),
    live.subscribe("alert_acknowledged", (event) => acknowledged(event.data.alert)),
    live.subscribe("stock_recovered", (event) => {
      const at = event.ts || new Date().toISOString();
      for (const list of [open, done.data]) {
        for (const a of list) if (a.id === event.data.alert_id) { a.resolved_at = a.resolved_at || at; }
      }
      show(event.data.alert_id);
    }),
  ];
  return () => stops.forEach((stop) => stop());
}

// #/system (managers): what GET /system/status says about the running instance — each dependency,
// the outbox backlog, the live feed's connections, the last backup, alert mail — refreshed every 10 s
// while the page is open. History and graphs are Grafana's job (infra/monitoring).

import { api, getConfig } from "../api.js";
import { fmt, h, heading, problemText, stat } from "../dom.js";

const EVERY_MS = 10000;

function section(title, ...children) {
  const id = `system-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}

function view(s) {
  const checks = Object.entries(s.checks || {});
  const servers = s.live?.servers || [];
  const backup = s.backup;
  return [
    h("div", { class: "cards" },
      stat("Overall", s.status === "ok" ? "OK" : "Degraded", s.status === "ok" ? "ok" : "bad"),
      stat("Outbox backlog", s.outbox ? fmt.number(s.outbox.unpublished) : "—", s.outbox?.unpublished ? "bad" : null),
      stat("Live-feed connections", s.live ? fmt.number(s.live.connections) : "—"),
      stat("Open alerts", s.alerts ? fmt.number(s.alerts.open) : "—")),
    h("div", { class: "columns" },
      section("Dependencies", h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Dependency"), h("th", { scope: "col" }, "Health"),
          h("th", { scope: "col", class: "num" }, "Latency"))),
        h("tbody", {}, checks.map(([name, check]) => h("tr", {},
          h("th", { scope: "row" }, name === "database" ? "Database (PostgreSQL)" : name === "redis" ? "Redis" : name),
          h("td", {}, check.ok ? h("span", { class: "badge ok" }, "OK") : h("span", { class: "badge bad" }, "Down")),
          h("td", { class: "num" }, check.latency_ms === null || check.latency_ms === undefined ? "—"
            : `${fmt.number(Math.round(check.latency_ms * 10) / 10)} ms`))))))),
      section("Event outbox", s.outbox
        ? h("dl", { class: "details" },
          h("dt", {}, "Unpublished events"), h("dd", {}, fmt.number(s.outbox.unpublished)),
          h("dt", {}, "Oldest unpublished"), h("dd", {}, s.outbox.oldest_unpublished_at ? fmt.datetime(s.outbox.oldest_unpublished_at) : "none"))
        : h("p", { class: "muted" }, "Unknown: the database cannot be read.")),
      section("Live feed", s.live
        ? [h("p", {}, `${fmt.number(s.live.connections)} connection${s.live.connections === 1 ? "" : "s"} on ${fmt.number(servers.length)} server${servers.length === 1 ? "" : "s"}.`),
          servers.length ? h("div", { class: "table-wrap" }, h("table", {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Server"), h("th", { scope: "col", class: "num" }, "Connections"),
              h("th", { scope: "col" }, "Reported"))),
            h("tbody", {}, servers.map((server) => h("tr", {},
              h("th", { scope: "row" }, server.id),
              h("td", { class: "num" }, fmt.number(server.connections)),
              h("td", {}, fmt.datetime(server.updated_at))))))) : null]
        : h("p", { class: "muted" }, "Unknown: Redis cannot be read.")),
      section("Backups", backup
        ? h("dl", { class: "details" },
          h("dt", {}, "Last backup"), h("dd", {}, backup.last_success_at ? fmt.datetime(backup.last_success_at) : "never"),
          h("dt", {}, "Size"), h("dd", {}, backup.last_size_bytes === null ? "—" : fmt.bytes(backup.last_size_bytes)),
          h("dt", {}, "Last failure"), h("dd", {}, backup.last_failure_at ? fmt.datetime(backup.last_failure_at) : "none"))
        : h("p", { class: "muted" }, "Unknown.")),
      section("Alert e-mail", s.alerts
        ? h("dl", { class: "details" },
          h("dt", {}, "Open alerts"), h("dd", {}, fmt.number(s.alerts.open)),
          h("dt", {}, "Mail waiting to be sent"), h("dd", {}, fmt.number(s.alerts.mail_pending)),
          h("dt", {}, "Mail that failed"), h("dd", {}, fmt.number(s.alerts.mail_failed)))
        : h("p", { class: "muted" }, "Unknown: the database cannot be read."))),
  ];
}

export async function render(root) {
  const body = h("div");
  const updated = h("p", { class: "muted", role: "status" });
  const button = h("button", { type: "button", onclick: () => load() }, "Refresh");
  let timer = null;
  let gone = false;

  async function load() {
    clearTimeout(timer);
    button.disabled = true;
    try {
      const status = await api("/system/status");
      if (gone) return;
      body.replaceChildren(...view(status));
      updated.textContent = `Updated ${fmt.datetime(status.time)}.`;
    } catch (error) {
      if (gone) return;
      updated.textContent = `Could not read the status: ${problemText(error)}`;
    } finally {
      button.disabled = false;
      if (!gone) timer = setTimeout(load, EVERY_MS);
    }
  }

  // Beside the API's /api/v1, wherever the gateway serves it; function URLs have no documents.
  const { api_base: base, function_urls: functionUrls } = getConfig();
  const docs = functionUrls ? null : new URL("/docs", new URL(base, document.baseURI)).href;
  const grafana = getConfig().grafana_url;
  root.append(heading("System", button), updated, body,
    h("section", { class: "card", "aria-labelledby": "system-more" },
      h("h2", { id: "system-more" }, "More"),
      h("ul", {},
        docs ? h("li", {}, h("a", { href: docs }, "API documentation"), " (OpenAPI, try requests in the browser).") : null,
        h("li", {}, grafana
          ? [h("a", { href: grafana, rel: "noopener" }, "Grafana"), ": metrics over time, request rates, latency and the live feed's lag."]
          : "Grafana (infra/monitoring) holds metrics over time, request rates, latency and the live feed's lag; no Grafana address is configured for this UI (grafana_url in config.json)."))));
  await load();
  return () => { gone = true; clearTimeout(timer); };
}

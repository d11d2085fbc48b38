// #/import (managers): items from a CSV file. The file is read here, cut into requests under the
// platform's 1 MB limit (csv.js), checked with a dry run whose combined report is shown first, and
// only then sent for real, chunk by chunk, with a progress bar. Idempotent by SKU: importing the
// same file twice changes nothing the second time.

import { api, newKey } from "../api.js";
import { CHUNK_BYTES, chunks as cut, downloadItems, split } from "../csv.js";
import { field, fill, fmt, h, heading, problemText, stat, toast } from "../dom.js";

const SHOWN = 500; // rows listed per table; the counts cover them all
const COLUMNS = "sku,name,description,category,location,quantity,unit,price,low_stock_threshold";

/** Send one chunk; `key` is made once per chunk and phase, so a retry cannot apply it twice. */
function send(chunk, dryRun, key) {
  return api("/items/import", { method: "POST", query: { dry_run: dryRun, first_row: chunk.firstRow },
    body: chunk.body, contentType: "text/csv", idempotencyKey: key });
}

/** The reports of every chunk as one. */
function combine(reports) {
  const total = { rows: 0, created: 0, updated: 0, unchanged: 0, failed: 0, results: [] };
  const categories = new Set();
  const locations = new Set();
  for (const r of reports) {
    for (const key of ["rows", "created", "updated", "unchanged", "failed"]) total[key] += r[key] || 0;
    total.results.push(...(r.results || []));
    (r.categories_created || []).forEach((name) => categories.add(name));
    (r.locations_created || []).forEach((name) => locations.add(name));
  }
  return { ...total, categories_created: [...categories], locations_created: [...locations] };
}

const shown = (v) => (v === null || v === undefined || v === "" ? "(empty)" : String(v));
const problems = (result) => (result.errors || []).map((e) => {
  const where = (e.loc || []).filter((part) => part !== "body").join(".");
  return where ? `${where}: ${e.msg}` : e.msg;
});

function list(title, rows, columns, cells) {
  if (!rows.length) return null;
  return h("section", {},
    h("h3", {}, `${title} (${fmt.number(rows.length)})`),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.slice(0, SHOWN).map((r) => h("tr", {}, cells(r)))))),
    rows.length > SHOWN ? h("p", { class: "muted" }, `The first ${fmt.number(SHOWN)} are listed.`) : null);
}

/** The report of a dry run or an import: counts, names to be created, and the rows that matter. */
function report(total, dryRun) {
  const by = (action) => total.results.filter((r) => r.action === action);
  const verb = dryRun ? "would be" : "were";
  const created = [...total.categories_created.map((n) => `category ${n}`), ...total.locations_created.map((n) => `location ${n}`)];
  return [
    h("div", { class: "cards" },
      ...[["Rows", total.rows], [dryRun ? "To create" : "Created", total.created],
        [dryRun ? "To update" : "Updated", total.updated], ["Unchanged", total.unchanged],
        ["Errors", total.failed]].map(([label, n]) => stat(label, fmt.number(n)))),
    created.length ? h("p", {}, `New ${created.length === 1 ? "name" : "names"} that ${verb} created: ${created.join(", ")}.`) : null,
    list("Rows with errors", by("error"), ["Row", "SKU", "Problem"], (r) => [
      h("td", { class: "num" }, fmt.number(r.row)), h("td", {}, r.sku || "—"),
      h("td", {}, problems(r).map((line) => h("div", {}, line)))]),
    list(dryRun ? "Rows to update" : "Rows updated", by("update"), ["Row", "SKU", "Changes"], (r) => [
      h("td", { class: "num" }, fmt.number(r.row)), h("td", {}, h("a", { href: `#/items?search=${encodeURIComponent(r.sku)}` }, r.sku)),
      h("td", {}, Object.entries(r.changes || {}).map(([name, [before, after]]) =>
        h("div", {}, `${name}: ${shown(before)} → ${shown(after)}`)))]),
    list(dryRun ? "Rows to create" : "Rows created", by("create"), ["Row", "SKU"], (r) => [
      h("td", { class: "num" }, fmt.number(r.row)), h("td", {}, r.sku)]),
  ];
}

export async function render(root) {
  const status = h("div", { role: "status", "aria-live": "polite" });
  const output = h("div");
  const progressId = "import-progress";
  const progress = h("progress", { id: progressId, max: 1, value: 0 });
  const progressBox = h("div", { class: "field", hidden: true },
    h("label", { for: progressId }, "Progress"), progress, h("small", { class: "hint" }));
  const fileField = field("CSV file", { name: "file", type: "file", accept: ".csv,text/csv",
    hint: `Header line first; columns ${COLUMNS} in any order (sku and name required).` });
  const input = fileField.querySelector("input");
  const drop = h("div", { class: "drop" }, fileField, h("p", { class: "muted" }, "…or drop a CSV file here."));
  let busy = false;

  function setProgress(done, max, text) {
    progressBox.hidden = false;
    progress.max = max;
    progress.value = done;
    progressBox.querySelector(".hint").textContent = text;
  }

  /** Send every chunk (from `from` on), keeping what came back; stops at the first failure. */
  async function run(chunks, dryRun, keys, reports, from = 0) {
    for (let i = from; i < chunks.length; i += 1) {
      setProgress(i, chunks.length, `${dryRun ? "Checking" : "Importing"}: part ${fmt.number(i + 1)} of ${fmt.number(chunks.length)}`);
      try {
        reports[i] = await send(chunks[i], dryRun, keys[i]);
      } catch (error) {
        if (error.code !== "import_answer_too_large" || chunks[i].rows <= 1) throw error;
        // Its report would not fit in one answer: send it again as smaller parts, each with its own key.
        const parts = split(chunks[i], error.problem.max_rows || Math.ceil(chunks[i].rows / 2));
        chunks.splice(i, 1, ...parts);
        keys.splice(i, 1, ...parts.map(() => newKey()));
        i -= 1;
      }
    }
    setProgress(chunks.length, chunks.length, `${dryRun ? "Checked" : "Imported"}: ${fmt.number(chunks.length)} of ${fmt.number(chunks.length)} parts`);
    return combine(reports);
  }

  function failure(error, retry) {
    const lines = [problemText(error), ...(error.errors || []).map((e) =>
      `${(e.loc || []).filter((p) => p !== "body").join(".")}: ${e.msg}`)];
    fill(output, h("div", { class: "form-error", role: "alert" }, lines.map((line) => h("p", {}, line))),
      retry ? h("button", { type: "button", onclick: retry }, "Retry") : null);
  }

  async function importFile(chunks, preview) {
    const keys = chunks.map(() => newKey());
    const reports = [];
    const attempt = async (from) => {
      busy = true;
      try {
        const total = await run(chunks, false, keys, reports, from);
        status.textContent = `Import finished: ${fmt.number(total.created)} created, ${fmt.number(total.updated)} updated, ` +
          `${fmt.number(total.unchanged)} unchanged, ${fmt.number(total.failed)} with errors.`;
        fill(output, h("h2", {}, "Import finished"), ...report(total, false));
      } catch (error) {
        const failed = reports.length;
        status.textContent = `The import stopped at part ${failed + 1} of ${chunks.length}.`;
        failure(error, error.status === 0 || error.status >= 500 ? () => attempt(failed) : null);
      } finally {
        busy = false;
      }
    };
    preview.remove();
    await attempt(0);
  }

  async function check(file) {
    if (busy) return;
    output.replaceChildren();
    progressBox.hidden = true;
    let chunks;
    try {
      chunks = cut(await file.text(), CHUNK_BYTES);
    } catch (error) {
      status.textContent = "";
      fill(output, h("div", { class: "form-error", role: "alert" }, h("p", {}, `${file.name}: ${error.message}`)));
      return;
    }
    const rows = chunks.reduce((n, c) => n + c.rows, 0);
    status.textContent = `${file.name}: ${fmt.number(rows)} rows (${fmt.bytes(file.size)}), checking…`;
    busy = true;
    let total;
    try {
      total = await run(chunks, true, chunks.map(() => newKey()), []);
    } catch (error) {
      status.textContent = `${file.name} could not be checked.`;
      failure(error, null);
      return;
    } finally {
      busy = false;
    }
    const valid = total.rows - total.failed;
    status.textContent = `Dry run of ${file.name}: nothing has been changed yet.`;
    const go = h("button", { type: "button", class: "primary", disabled: valid === 0 },
      `Import ${fmt.number(valid)} row${valid === 1 ? "" : "s"}`);
    const preview = h("div", { class: "actions" }, go);
    go.addEventListener("click", () => importFile(chunks, preview));
    fill(output, h("h2", {}, "Preview"), ...report(total, true),
      total.failed ? h("p", {}, "Rows with errors are skipped; fix them in the file and import it again.") : null,
      valid > 0 && total.unchanged === valid ? h("p", {}, "Every valid row matches what is stored: importing changes nothing.") : null,
      preview);
  }

  input.addEventListener("change", () => { if (input.files[0]) check(input.files[0]); });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) check(file);
  });

  const exportButton = h("button", { type: "button", onclick: async () => {
    exportButton.disabled = true;
    try {
      await downloadItems({}, (n) => { exportButton.textContent = `Exporting… (part ${n})`; });
    } catch (error) {
      toast(problemText(error), "error");
    } finally {
      exportButton.disabled = false;
      exportButton.textContent = "Export all items as CSV";
    }
  } }, "Export all items as CSV");

  root.append(
    heading("Import items", exportButton),
    h("p", {}, "Rows are matched to items by SKU: a new SKU creates an item, a known one is updated where the row differs, ",
      "and an identical row changes nothing. Unknown category and location names are created. ",
      "You see what would happen before anything is changed."),
    h("p", { class: "muted" }, "An export opened in a spreadsheet program may have its cells changed (leading zeros, dates, formulas): check before importing it back."),
    drop, progressBox, status, output);
}

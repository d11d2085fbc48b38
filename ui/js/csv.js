// Items as CSV: the export (every page of GET /items/export, joined into one file) and, for the
// import, a file cut into requests that each stay under the platform's 1 MB limit. Cuts fall only
// between records (RFC 4180: a quoted field may hold line breaks), never inside one.

import { api } from "./api.js";

/** What one import request may carry, header included: under the 1 MB platform limit with room to spare. */
export const CHUNK_BYTES = 900000;
/**
 * Rows per import request at most: the answer reports every row, and must stay under the same 1 MB
 * (the server refuses a larger one with 413 `import_answer_too_large` and `max_rows`: see `split`);
 * a smaller request also moves the progress bar more often.
 */
export const CHUNK_ROWS = 1000;

/**
 * The records of a CSV text: [{start, end, line}], `end` just past the record's line break, `line`
 * the file line (1-based) where the record starts. Quotes open only at the start of a field; a
 * doubled quote inside is a literal quote. A final line break does not make an empty last record.
 */
export function records(text) {
  const out = [];
  let start = 0;
  let line = 1;
  let startLine = 1;
  let quoted = false;
  let fieldStart = true;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') i += 1;
        else quoted = false;
      } else if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) line += 1;
      continue;
    }
    if (c === '"' && fieldStart) { quoted = true; fieldStart = false; continue; }
    if (c === ",") { fieldStart = true; continue; }
    if (c === "\r" || c === "\n") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      out.push({ start, end: i + 1, line: startLine });
      line += 1;
      start = i + 1;
      startLine = line;
      fieldStart = true;
      continue;
    }
    fieldStart = false;
  }
  if (start < text.length) out.push({ start, end: text.length, line: startLine });
  return out;
}

/**
 * Cut a CSV file's text into import requests: [{body, firstRow, rows}], each body the header line and
 * whole records, at most `budget` bytes of UTF-8; `firstRow` is the file line of its first record
 * (the import's `first_row`). Throws when the file has no data or one record alone is too big.
 */
export function chunks(text, budget = CHUNK_BYTES, maxRows = CHUNK_ROWS) {
  const encoder = new TextEncoder();
  const source = text.startsWith("\ufeff") ? text.slice(1) : text;
  const all = records(source);
  if (all.length < 2) throw new Error("The file has no rows below its header line.");
  let header = source.slice(all[0].start, all[0].end);
  if (!/[\r\n]$/.test(header)) header += "\r\n";
  const headerBytes = encoder.encode(header).length;
  const out = [];
  let current = null;
  for (const record of all.slice(1)) {
    let slice = source.slice(record.start, record.end);
    if (!/[\r\n]$/.test(slice)) slice += "\r\n";
    const bytes = encoder.encode(slice).length;
    if (headerBytes + bytes > budget) {
      throw new Error(`The row at line ${record.line} is too large to send (${bytes} bytes; at most ${budget - headerBytes}).`);
    }
    if (!current || current.bytes + bytes > budget || current.rows >= maxRows) {
      if (/^[\r\n]*$/.test(slice)) continue; // a blank line opens no request: `firstRow` names a real row
      current = { parts: [header], bytes: headerBytes, firstRow: record.line, rows: 0 };
      out.push(current);
    }
    current.parts.push(slice);
    current.bytes += bytes;
    current.rows += 1;
  }
  return out.map(({ parts, firstRow, rows, bytes }) => ({ body: parts.join(""), firstRow, rows, bytes }));
}

/** One chunk cut again into parts of at most `maxRows` rows, keeping the file's line numbers. */
export function split(chunk, maxRows) {
  return chunks(chunk.body, CHUNK_BYTES, Math.max(1, maxRows))
    .map((part) => ({ ...part, firstRow: chunk.firstRow + part.firstRow - 2 }));
}

/** The `rel="next"` target of a Link header, resolved against the answer's URL; null when none. */
export function nextLink(answer) {
  const link = answer.headers.get("Link") || "";
  for (const part of link.split(",")) {
    const m = /<([^>]*)>\s*;(?:.*;)?\s*rel="?next"?/i.exec(part);
    if (m) return new URL(m[1], answer.url).href;
  }
  return null;
}

/**
 * Every item matching `query` (the filters of GET /items) as one CSV text: the export's pages in
 * order, the header line once. `onPage(n)` hears about each page read.
 */
export async function exportItems(query = {}, onPage = () => {}) {
  const accept = { Accept: "text/csv, application/problem+json" };
  let answer = await api("/items/export", { query, raw: true, headers: accept });
  const parts = [await answer.text()];
  onPage(1);
  for (let page = 2; page <= 10000; page += 1) { // bounded: a page is ~900 kB, far past any inventory
    const next = nextLink(answer);
    if (!next) break;
    // The next link holds the whole query: asked again through api(), it reaches the same route
    // whether the API is the gateway or DigitalOcean's function URLs.
    answer = await api("/items/export", { query: Object.fromEntries(new URL(next).searchParams), raw: true, headers: accept });
    const text = await answer.text();
    const rest = records(text);
    if (!/[\r\n]$/.test(parts[parts.length - 1])) parts.push("\r\n");
    parts.push(rest.length > 1 ? text.slice(rest[1].start) : "");
    onPage(page);
  }
  return parts.join("");
}

/** Save a text as a file the browser downloads. */
export function download(text, filename, type = "text/csv;charset=utf-8") {
  const href = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

/** Export the items matching `query` and download them as ims-items-<date>.csv. */
export async function downloadItems(query = {}, onPage) {
  const text = await exportItems(query, onPage);
  const d = new Date(); // the user's own date, not UTC's
  const day = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  download(text, `ims-items-${day}.csv`);
  return text;
}

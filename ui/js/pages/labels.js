// A printable sheet of labels (#/labels?ids=1,2,3): for each item its QR code (an SVG from the API,
// fetched with the token, shown through a blob: URL), the SKU in large text and the name.

import { api } from "../api.js";
import { h, heading, problemText } from "../dom.js";

const MAX_LABELS = 500;

export async function render(root, { query }) {
  const ids = [...new Set((query.get("ids") || "").split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0))]
    .slice(0, MAX_LABELS);
  const urls = [];
  const cleanup = () => { for (const u of urls) URL.revokeObjectURL(u); urls.length = 0; };

  if (ids.length === 0) {
    root.append(heading("Labels"),
      h("p", {}, "No items chosen. Select rows in the ", h("a", { href: "#/items" }, "inventory"), " and choose Print labels."));
    return cleanup;
  }

  const sheet = h("div", { class: "label-sheet", "aria-busy": "true" });
  root.append(
    heading(ids.length === 1 ? "Label" : `Labels (${ids.length})`,
      h("button", { type: "button", class: "primary no-print", onclick: () => window.print() }, "Print"),
      h("a", { class: "button no-print", href: "#/items" }, "Back to the inventory")),
    h("p", { class: "muted no-print" }, "Only the labels are printed."),
    sheet);

  // A few at a time: a long selection should not open hundreds of requests at once.
  const cards = ids.map((id) => {
    const card = h("figure", { class: "qr-label", dataset: { id: String(id) } }, h("p", { class: "muted" }, "Loading…"));
    sheet.append(card);
    return { id, card };
  });
  const one = async ({ id, card }) => {
    try {
      const [item, svg] = await Promise.all([
        api(`/items/${id}`),
        api(`/items/${id}/label`, { raw: true, headers: { Accept: "image/svg+xml, application/problem+json" } }).then((r) => r.blob()),
      ]);
      const src = URL.createObjectURL(svg);
      urls.push(src);
      card.replaceChildren(
        h("img", { class: "qr", src, alt: `QR code for SKU ${item.sku}` }),
        h("figcaption", {}, h("span", { class: "label-sku" }, item.sku), h("span", { class: "label-name" }, item.name)));
    } catch (error) {
      if (error.status === 401) throw error;
      card.classList.add("failed");
      card.replaceChildren(h("p", { class: "error", role: "alert" },
        error.status === 404 ? `Item #${id} does not exist.` : `Item #${id}: ${problemText(error)}`));
    }
  };
  const queue = cards.slice();
  await Promise.all(Array.from({ length: Math.min(6, queue.length) }, async () => {
    while (queue.length) await one(queue.shift());
  }));
  sheet.setAttribute("aria-busy", "false");
  return cleanup;
}

// A new item (managers): categories and locations as selects, a taken SKU shown on the SKU field.

import { all, api } from "../api.js";
import { clearErrors, field, h, heading, showErrors, toast } from "../dom.js";
import * as router from "../router.js";

export async function render(root, { query }) {
  const [categories, locations] = await Promise.all([all("/categories"), all("/locations")]);
  const options = (rows, none) => [["", none], ...rows.map((r) => [r.id, r.name])];
  const form = h("form", { class: "card grid-form", novalidate: true, "aria-label": "New item" },
    field("Name", { name: "name", required: true, maxlength: 200, autocomplete: "off" }),
    field("SKU", { name: "sku", required: true, maxlength: 64, autocomplete: "off", autocapitalize: "off", spellcheck: "false",
      value: query.get("sku") || "", hint: "Letters, digits and . _ / - ; unique." }),
    field("Category", { type: "select", name: "category_id", options: options(categories, "None") }),
    field("Location", { type: "select", name: "location_id", options: options(locations, "None") }),
    field("Quantity", { name: "quantity", type: "number", min: 0, step: 1, value: "0", inputmode: "numeric" }),
    field("Unit", { name: "unit", required: true, maxlength: 20, value: "pcs" }),
    field("Price", { name: "price", inputmode: "decimal", hint: "Optional, e.g. 12.50." }),
    field("Low-stock threshold", { name: "low_stock_threshold", type: "number", min: 0, step: 1, value: "10", inputmode: "numeric" }),
    h("div", { class: "wide" }, field("Description", { type: "textarea", name: "description", maxlength: 2000 })),
    h("div", { class: "actions wide" },
      h("button", { type: "submit", class: "primary" }, "Create item"),
      h("a", { class: "button", href: "#/items" }, "Cancel")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const v = Object.fromEntries(new FormData(form));
    const body = { name: v.name.trim(), sku: v.sku.trim(), unit: v.unit.trim() };
    for (const key of ["category_id", "location_id", "quantity", "low_stock_threshold"]) {
      if (v[key] !== "") body[key] = Number(v[key]);
    }
    if (v.price.trim()) body.price = v.price.trim();
    if (v.description.trim()) body.description = v.description.trim();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const item = await api("/items", { method: "POST", body });
      toast(`Created ${item.name}.`, "ok");
      router.go(`/items/${item.id}`, {}, { replace: true });
    } catch (error) {
      if (error.status === 401) throw error;
      if (error.code === "sku_taken" && !error.errors.length) error.errors = [{ loc: ["sku"], msg: error.detail }];
      showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  });

  root.append(h("p", { class: "crumbs" }, h("a", { href: "#/items" }, "Inventory")), heading("New item"), form);
  form.elements.name.focus();
}

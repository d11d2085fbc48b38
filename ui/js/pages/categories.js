// #/categories: the list for everyone; add, edit and delete for managers (catalog.js).

import { api } from "../api.js";
import { renderCatalog } from "./catalog.js";

const CATEGORIES = {
  path: "/categories",
  title: "Categories",
  noun: "category",
  event: "category_changed",
  key: "category",
  filter: "category_id",
  orphans: "uncategorized",
  extra: [],
  // One request staff may make gives every category's item count.
  counts: async () => new Map((await api("/dashboard/category-breakdown"))
    .filter((row) => row.category_id !== null).map((row) => [row.category_id, row.item_count])),
};

export function render(root, params) {
  return renderCatalog(root, params, CATEGORIES);
}

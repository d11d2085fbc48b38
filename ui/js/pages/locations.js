// #/locations: the list for everyone; add, edit and delete for managers (catalog.js). No item counts:
// the API has no per-location aggregate, and one count request per row is not worth it.

import { renderCatalog } from "./catalog.js";

const LOCATIONS = {
  path: "/locations",
  title: "Locations",
  noun: "location",
  event: "location_changed",
  key: "location",
  filter: "location_id",
  orphans: "without a location",
  extra: [["address", "Address"]],
  counts: null,
};

export function render(root, params) {
  return renderCatalog(root, params, LOCATIONS);
}

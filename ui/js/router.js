// Hash routes (#/items/42?tab=history), so ui/ works as a plain static site with no server rewrites.

const routes = [];

/** route("/items/:id", loader, {manager: true}): loader() resolves to a page module. */
export function route(pattern, loader, options = {}) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => { names.push(name); return "([^/]+)"; })}$`);
  routes.push({ pattern, regex, names, loader, ...options });
}

/** The current location: {path, query (URLSearchParams)}. */
export function current() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(search) };
}

/** The route for a path and its parameters, or null. */
export function match(path) {
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((name, i) => { params[name] = decodeURIComponent(m[i + 1]); });
      return { route: r, params };
    }
  }
  return null;
}

/** The hash for a path and query (empty values left out). */
export function href(path, query = {}) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "" && value !== false) q.set(key, String(value));
  }
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}

/** Go to a path; `replace` changes the current history entry instead of adding one. */
export function go(path, query = {}, { replace = false } = {}) {
  const target = href(path, query);
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

// Who is signed in: the token pair and the user, kept in localStorage so every tab shares one session
// (signing out in one tab signs out the others). Listeners hear every change, from this tab or another.

const KEY = "ims.session";
const listeners = new Set();

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

let current = read();

/** {access_token, refresh_token, user, password_change_required} or null. */
export function get() {
  return current;
}

export function user() {
  return current ? current.user : null;
}

export function isManager() {
  return current?.user?.role === "manager";
}

/** Store a login or refresh answer (or a changed user); null signs out. */
export function set(next) {
  current = next;
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  for (const fn of listeners) fn(current);
}

export function update(fields) {
  const base = read(); // not `current`: another tab may have stored a newer pair that this tab has not heard of yet
  if (base) set({ ...base, ...fields });
}

/**
 * Read the stored session again, as another tab may just have changed it (the storage event that says
 * so can arrive later); listeners hear of a change.
 */
export function reload() {
  const stored = read();
  if (JSON.stringify(stored) !== JSON.stringify(current)) {
    current = stored;
    for (const fn of listeners) fn(current);
  }
  return current;
}

/** The access token's lifetime, {issued, expires} in ms since the epoch (its `iat` and `exp`), or null. */
export function lifetime() {
  try {
    const claims = JSON.parse(atob(current.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    const life = { issued: claims.iat * 1000, expires: claims.exp * 1000 };
    return Number.isFinite(life.issued) && Number.isFinite(life.expires) && life.expires > life.issued ? life : null;
  } catch {
    return null;
  }
}

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

window.addEventListener("storage", (event) => {
  if (event.key !== KEY && event.key !== null) return; // null: the whole storage was cleared
  current = read();
  for (const fn of listeners) fn(current);
});

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
  if (current) set({ ...current, ...fields });
}

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

window.addEventListener("storage", (event) => {
  if (event.key !== KEY) return;
  current = read();
  for (const fn of listeners) fn(current);
});

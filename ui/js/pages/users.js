// #/users (managers): every account; create one, change its role, activate or deactivate it, give it
// a temporary password. The API keeps the last active manager: its refusal is shown as it says.

import { api } from "../api.js";
import { fieldError, formDialog } from "../dialog.js";
import { field, fmt, h, heading, pager, problemText, toast, uid } from "../dom.js";
import * as live from "../live.js";
import * as router from "../router.js";
import * as session from "../session.js";

const PER_PAGE = 25;
const ROLES = [["staff", "Staff"], ["manager", "Manager"]];

/** A temporary password to suggest: 12 characters nobody has to invent, none easily confused. */
function suggestPassword() {
  const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

export async function render(root, { query }) {
  const page = Math.max(1, Number(query.get("page")) || 1);
  const answer = await api("/users", { query: { page, per_page: PER_PAGE } });
  const me = session.user();
  const body = h("tbody");
  const pages = h("div");

  function row(user) {
    const roleId = uid("role");
    const select = h("select", { id: roleId, name: "role", onchange: () => patch(user, { role: select.value }, select) },
      ROLES.map(([value, text]) => h("option", { value, selected: value === user.role }, text)));
    return h("tr", { dataset: { id: user.id }, class: user.is_active ? null : "inactive" },
      h("th", { scope: "row" }, user.full_name, user.id === me?.id ? h("small", { class: "muted" }, " (you)") : null),
      h("td", {}, user.email),
      h("td", {}, h("label", { for: roleId, class: "sr-only" }, `Role of ${user.full_name}`), select),
      h("td", {}, user.is_active ? h("span", { class: "badge ok" }, "Active") : h("span", { class: "badge bad" }, "Inactive")),
      h("td", {}, fmt.date(user.created_at)),
      h("td", {}, h("div", { class: "row-actions" },
        h("button", { type: "button", "aria-label": `${user.is_active ? "Deactivate" : "Activate"} ${user.full_name}`,
          class: user.is_active ? "danger" : "primary",
          onclick: (event) => patch(user, { is_active: !user.is_active }, event.currentTarget) },
        user.is_active ? "Deactivate" : "Activate"),
        h("button", { type: "button", "aria-label": `Reset the password of ${user.full_name}`, onclick: () => reset(user) },
          "Reset password"))));
  }

  function show(marked = null) {
    body.replaceChildren(...answer.data.map(row));
    if (marked !== null) body.querySelector(`tr[data-id="${marked}"]`)?.classList.add("changed");
    pages.replaceChildren(answer.total > answer.per_page ? pager(answer, (p) => router.go("/users", { page: p })) : "");
  }

  function upsert(user) {
    const at = answer.data.findIndex((u) => u.id === user.id);
    if (at >= 0) answer.data[at] = user;
    else if (page === Math.max(1, Math.ceil((answer.total + 1) / PER_PAGE))) {
      answer.data.push(user); // the list is in creation order: a new account ends the last page
      answer.total += 1;
    } else return;
    show(user.id);
  }

  async function patch(user, change, control) {
    control.disabled = true;
    try {
      upsert(await api(`/users/${user.id}`, { method: "PATCH", body: change }));
      toast(`${user.full_name} updated.`, "ok");
    } catch (error) {
      show(); // back to what the server holds (the select's old role)
      toast(problemText(error), "error");
    } finally {
      control.disabled = false;
    }
  }

  async function create() {
    const created = await formDialog("New user", [
      field("Full name", { name: "full_name", required: true, maxlength: 100, autocomplete: "off" }),
      field("E-mail", { name: "email", type: "email", required: true, autocomplete: "off" }),
      field("Role", { name: "role", type: "select", value: "staff", options: ROLES }),
      field("Password", { name: "password", type: "password", required: true, autocomplete: "new-password",
        hint: "At least 8 characters. Tell the user; they can change it on their profile." }),
    ], "Create user", async (data) => {
      try {
        return await api("/users", { method: "POST", body: data });
      } catch (error) {
        if (error.code === "email_taken") throw fieldError("email", "This e-mail is taken.", error.detail);
        throw error;
      }
    });
    if (created) { upsert(created); toast(`${created.full_name} can now sign in.`, "ok"); }
  }

  async function reset(user) {
    const password = await formDialog(`Reset the password of ${user.full_name}`, [
      h("p", {}, "Their sessions end, and they must choose a new password when they next sign in."),
      field("Temporary password", { name: "temporary_password", required: true, value: suggestPassword(),
        autocomplete: "off", hint: "At least 8 characters. Give it to them in person or by phone." }),
    ], "Reset password", async (data) => {
      await api(`/users/${user.id}/password`, { method: "POST", body: data });
      return data.temporary_password;
    });
    if (password) toast(`${user.full_name}'s password was reset. Give them the temporary password.`, "ok");
  }

  root.append(
    heading("Users", h("button", { type: "button", class: "primary", onclick: create }, "Add user")),
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "sr-only" }, "Users"),
      h("thead", {}, h("tr", {},
        ["Name", "E-mail", "Role", "Status", "Since"].map((label) => h("th", { scope: "col" }, label)),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      body)),
    pages);
  show();
  return live.subscribe("user_changed", (event) => upsert(event.data.user));
}

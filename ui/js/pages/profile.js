// #/profile: the signed-in user's details and the password change. After a manager's reset the
// shell sends the user here until they have chosen a new password.

import { api } from "../api.js";
import { fieldError } from "../dialog.js";
import { clearErrors, field, fmt, h, heading, showErrors, toast } from "../dom.js";
import * as router from "../router.js";
import * as session from "../session.js";

export async function render(root) {
  const forced = !!session.get()?.password_change_required;
  const user = forced ? session.user() : await api("/auth/me").catch(() => session.user());

  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, "Change password"),
    field("Current password", { name: "current_password", type: "password", required: true, autocomplete: "current-password",
      hint: forced ? "The temporary password you signed in with." : null }),
    field("New password", { name: "new_password", type: "password", required: true, autocomplete: "new-password",
      minlength: 8, hint: "At least 8 characters." }),
    field("Confirm new password", { name: "confirm_password", type: "password", required: true, autocomplete: "new-password" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Change password")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = Object.fromEntries(new FormData(form));
    if (data.new_password !== data.confirm_password) {
      showErrors(form, fieldError("confirm_password", "The two new passwords differ.", "Type the same new password twice."));
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("/auth/password", { method: "POST",
        body: { current_password: data.current_password, new_password: data.new_password } });
      form.reset();
      toast("Your password was changed. Your other sessions have been signed out.", "ok");
      if (session.get()?.password_change_required) {
        session.update({ password_change_required: false });
        router.go("/");
      }
    } catch (error) {
      if (error.code === "wrong_password") showErrors(form, fieldError("current_password", "This is not your current password.", error.detail));
      else showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  });

  root.append(
    heading("Your profile"),
    ...(forced ? [h("div", { class: "notice warn", role: "alert" },
      h("p", {}, "A manager has reset your password. Choose a new password of your own to continue using IMS."))] : []),
    h("section", { class: "card", "aria-labelledby": "details-title" },
      h("h2", { id: "details-title" }, "Details"),
      h("dl", { class: "details" },
        h("dt", {}, "Name"), h("dd", {}, user.full_name),
        h("dt", {}, "E-mail"), h("dd", {}, user.email),
        h("dt", {}, "Role"), h("dd", {}, user.role === "manager" ? "Manager" : "Staff"),
        h("dt", {}, "Member since"), h("dd", {}, fmt.date(user.created_at)))),
    form);
  if (forced) form.querySelector("input").focus();
}

// Sign in, and registration where the deployment allows it.

import { api, getConfig } from "../api.js";
import { clearErrors, field, h, showErrors } from "../dom.js";
import * as router from "../router.js";
import * as session from "../session.js";

export async function render(root, { mode, query }) {
  const registering = mode === "register";
  const allowed = getConfig().allow_registration !== false;
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, registering ? "Create an account" : "Sign in to IMS"),
    registering ? field("Full name", { name: "full_name", autocomplete: "name", required: true, maxlength: 200 }) : null,
    field("E-mail", { name: "email", type: "email", autocomplete: "username", required: true }),
    field("Password", { name: "password", type: "password", required: true,
      autocomplete: registering ? "new-password" : "current-password",
      hint: registering ? "At least 8 characters." : null }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, registering ? "Create account" : "Sign in")),
    registering
      ? h("p", {}, "Already have an account? ", h("a", { href: "#/login" }, "Sign in"))
      : allowed ? h("p", {}, "New here? ", h("a", { href: "#/register" }, "Create an account")) : null);
  if (registering && !allowed) {
    root.append(h("div", { class: "card narrow" }, h("h1", {}, "Registration is closed"),
      h("p", {}, "Ask a manager to create your account."), h("a", { href: "#/login" }, "Sign in")));
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = Object.fromEntries(new FormData(form));
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      if (registering) {
        const user = await api("/auth/register", { method: "POST", body: data, auth: false });
        if (!user.is_active) {
          form.replaceChildren(h("h1", {}, "Account created"),
            h("p", { role: "status" }, "A manager has to activate your account before you can sign in."),
            h("a", { href: "#/login" }, "Back to sign in"));
          return;
        }
      }
      const pair = await api("/auth/login", { method: "POST", body: { email: data.email, password: data.password }, auth: false });
      session.set({ ...pair, received_at: Date.now() });
      router.go(query.get("next") || "/", {}, { replace: true });
    } catch (error) {
      showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  });
  root.append(form);
  form.querySelector("input").focus();
}

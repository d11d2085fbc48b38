// A modal form in a <dialog>: the pages' create/edit/reset forms. The dialog stays open and shows the
// API's problem details next to the inputs until the submit succeeds or the user cancels.

import { clearErrors, h, showErrors, uid } from "./dom.js";

/**
 * formDialog("New category", [field(...), ...], "Create", async (data, form) => result)
 * resolves to what `submit` returned, or null when cancelled. `submit` throws an ApiError (or
 * anything shaped like one: {detail, errors: [{loc, msg}]}) to keep the dialog open with the errors.
 */
export function formDialog(title, children, submitLabel, submit) {
  return new Promise((resolve) => {
    const titleId = uid("dialog");
    const button = h("button", { type: "submit", class: "primary" }, submitLabel);
    const dialog = h("dialog", { "aria-labelledby": titleId, class: "form-dialog" });
    const form = h("form", { novalidate: true },
      h("h2", { id: titleId }, title),
      children,
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"),
        button));
    dialog.append(form);
    let result = null;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      button.disabled = true;
      try {
        result = await submit(Object.fromEntries(new FormData(form)), form);
        dialog.close();
      } catch (error) {
        showErrors(form, error);
      } finally {
        button.disabled = false;
      }
    });
    dialog.addEventListener("close", () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
    form.querySelector("input, select, textarea")?.focus();
  });
}

/** An error shaped like an ApiError that puts `message` next to the input named `name`. */
export function fieldError(name, message, detail = "") {
  return { detail: detail || message, errors: [{ loc: [name], msg: message }] };
}

// The school and partner forms: send the typed values to the JSON API and show every problem next to its field.
// Without this file the form posts to the server, which answers the same way; nothing here loads anything from elsewhere.
"use strict";

(function () {
  const form = document.getElementById("entity-form");
  if (!form || form.querySelector("fieldset[disabled]")) return;
  const summary = document.getElementById("error-summary");
  const status = document.getElementById("form-status");
  const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

  // Typed text to a JSON body, as matcher/web/forms.py `body` does for the form posted without JavaScript.
  function typed(kind, text) {
    if ((kind === "number" || kind === "integer") && NUMBER.test(text)) {
      const n = Number(text);
      return kind === "integer" && Number.isFinite(n) && Number.isInteger(n) ? Math.trunc(n) : n;
    }
    return text;
  }
  function collect() {
    const body = {};
    form.querySelectorAll("[data-field]").forEach((box) => {
      const name = box.dataset.field;
      const widget = box.dataset.widget;
      let value = "";
      if (widget === "categories" || widget === "types") {
        value = Array.from(box.querySelectorAll("input[type=checkbox]:checked"), (c) => c.value).join(";");
      } else if (widget === "checkbox") {
        if (box.querySelector("input").checked) body[name] = true;
        return;
      } else {
        const control = box.querySelector("input, textarea, select");
        if (control.readOnly) return; // the id of a row being edited is in the address
        value = control.value.trim();
      }
      if (value !== "") body[name] = typed(box.dataset.kind, value);
    });
    return body;
  }

  function labelOf(box) {
    const legend = box.querySelector("legend");
    const label = legend || box.querySelector("label");
    return label ? label.textContent.replace("(required)", "").trim() : box.dataset.field;
  }
  function clear() {
    form.querySelectorAll("[data-field]").forEach((box) => {
      box.classList.remove("has-error");
      const err = box.querySelector(".field-error");
      if (err) err.textContent = "";
      box.querySelectorAll("input, textarea, select").forEach((c) => c.removeAttribute("aria-invalid"));
    });
    summary.hidden = true;
  }
  // Problems in the order of the form's fields (the API lists them in its own order), the rest after.
  function inFormOrder(errors) {
    const order = Array.from(form.querySelectorAll("[data-field]"), (box) => box.dataset.field);
    const rank = (e) => (order.indexOf(e.field) + 1 || order.length + 1);
    return errors.map((e, i) => [rank(e), i, e]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2]);
  }
  function show(errors) {
    errors = inFormOrder(errors);
    clear();
    const list = summary.querySelector("ul");
    list.textContent = "";
    errors.forEach((e) => {
      const box = e.field ? form.querySelector(`[data-field="${CSS.escape(e.field)}"]`) : null;
      const li = document.createElement("li");
      if (box) {
        box.classList.add("has-error");
        const err = box.querySelector(".field-error");
        err.textContent = (err.textContent ? err.textContent + " " : "") + e.msg;
        box.querySelectorAll("input, textarea, select").forEach((c) => c.setAttribute("aria-invalid", "true"));
        const a = document.createElement("a");
        a.href = "#" + (box.querySelector("fieldset.checks") || box.querySelector("input, textarea, select")).id;
        a.textContent = `${labelOf(box)}: ${e.msg}`;
        li.appendChild(a);
      } else {
        li.textContent = e.msg;
      }
      list.appendChild(li);
    });
    const n = errors.length;
    summary.querySelector("h2").textContent = `${n} problem${n === 1 ? "" : "s"} to fix: nothing was saved`;
    summary.hidden = false;
    summary.focus();
  }

  // Following a link of the summary puts the focus on the field, not only the scroll position.
  summary.addEventListener("click", (e) => {
    const a = e.target.closest("a[href^='#']");
    if (!a) return;
    const target = document.getElementById(a.getAttribute("href").slice(1));
    if (target) { e.preventDefault(); target.scrollIntoView({ block: "center" }); target.focus(); }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const kind = form.dataset.kind;
    const body = collect();
    button.disabled = true;
    status.textContent = "Saving…";
    try {
      const res = await fetch(form.dataset.api, {
        method: form.dataset.method,
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await res.json().catch(() => ({}));
      if (res.ok) {
        const id = answer[`${kind}_id`] || form.dataset.id;
        status.textContent = "Saved.";
        location.assign(form.dataset.editUrl + encodeURIComponent(id) + `&saved=${form.dataset.method === "POST" ? "created" : "updated"}`);
        return;
      }
      let errors = Array.isArray(answer.errors) && answer.errors.length ? answer.errors : [{ field: null, msg: answer.detail || res.statusText }];
      if (res.status === 409 && form.dataset.method === "POST") errors = [{ field: `${kind}_id`, msg: answer.detail }];
      show(errors);
      status.textContent = "";
    } catch (err) {
      show([{ field: null, msg: `Could not reach the server: ${err.message}. Nothing was saved.` }]);
      status.textContent = "";
    } finally {
      button.disabled = false;
    }
  });
})();

// The outreach log: record a status through the JSON API and show the log again; problems land on their field.
// Without this file the form posts to the server, which answers the same way.
"use strict";

(function () {
  const form = document.getElementById("record-form");
  if (!form) return;
  const summary = document.getElementById("record-summary");
  const status = document.getElementById("record-status");
  const value = (name) => form.elements[name].value.trim();

  function show(problems) {
    form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
    const list = summary.querySelector("ul");
    list.textContent = "";
    problems.forEach(({ field, msg }) => {
      const box = field ? form.querySelector(`[data-field="${field}"]`) : null;
      const li = document.createElement("li");
      if (box) {
        const control = box.querySelector("input, select, textarea");
        box.querySelector(".field-error").textContent = msg;
        control.setAttribute("aria-invalid", "true");
        const a = document.createElement("a");
        a.href = `#${control.id}`;
        a.textContent = `${box.querySelector("label").textContent.replace("(required)", "").trim()}: ${msg}`;
        li.appendChild(a);
      } else {
        li.textContent = msg;
      }
      list.appendChild(li);
    });
    const n = problems.length;
    summary.querySelector("h3").textContent = `${n} problem${n === 1 ? "" : "s"} to fix: nothing was recorded`;
    summary.hidden = false;
    summary.focus();
  }

  summary.addEventListener("click", (e) => {
    const a = e.target.closest("a[href^='#']");
    const target = a && document.getElementById(a.getAttribute("href").slice(1));
    if (target) { e.preventDefault(); target.focus(); }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const school = value("school_id");
    const partner = value("partner_id");
    const missing = [];
    // The server's words for the same gaps (MISSING in matcher/web/workspace_pages.py).
    if (!school) missing.push({ field: "school_id", msg: "give the school's id" });
    if (!partner) missing.push({ field: "partner_id", msg: "give the partner's id" });
    if (!value("status")) missing.push({ field: "status", msg: "choose a status" });
    const flash = document.getElementById("flash");
    if (flash) flash.hidden = true; // about an earlier recording
    if (missing.length) { show(missing); return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = "Recording…";
    try {
      const res = await fetch(`/api/schools/${encodeURIComponent(school)}/partners/${encodeURIComponent(partner)}/status`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ status: value("status"), note: form.elements.note.value }),
      });
      const answer = await res.json().catch(() => ({}));
      if (res.ok) {
        const params = new URLSearchParams(location.search);
        ["record_school", "record_partner", "recorded", "page"].forEach((k) => params.delete(k));
        params.set("recorded", answer.id);
        location.assign(`/outreach?${params}#log-heading`);
        return;
      }
      const unknown = /^unknown (school|partner) id/.exec(answer.detail || "");
      const problems = unknown ? [{ field: `${unknown[1]}_id`, msg: answer.detail }]
        : Array.isArray(answer.errors) ? answer.errors : [{ field: null, msg: answer.detail || res.statusText }];
      show(problems);
      status.textContent = "";
    } catch (err) {
      show([{ field: null, msg: `Could not reach the server: ${err.message}. Nothing was recorded.` }]);
      status.textContent = "";
    } finally {
      button.disabled = false;
    }
  });
})();

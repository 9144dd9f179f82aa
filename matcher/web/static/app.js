// matcher page: the school picker (search as you type), status buttons and saving the need list's CSV.
// The page works without this file (forms and links); nothing here loads anything from elsewhere.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);

  // ------------------------------------------------------------------ school picker (ARIA combobox)
  function picker() {
    const input = $("#school");
    const list = $("#school-options");
    const status = $("#picker-status");
    if (!input || !list) return;
    let options = [];
    let active = -1;
    let seq = 0;
    let timer = null;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function highlight(i) {
      const items = list.querySelectorAll("[role=option]");
      items.forEach((li, k) => li.setAttribute("aria-selected", k === i ? "true" : "false"));
      active = i;
      if (i >= 0 && items[i]) {
        input.setAttribute("aria-activedescendant", items[i].id);
        items[i].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function choose(i) {
      const school = options[i];
      if (!school) return;
      input.value = school.school_id;
      close();
      input.form.requestSubmit ? input.form.requestSubmit() : input.form.submit();
    }
    function render(schools, query) {
      options = schools;
      list.textContent = "";
      if (!schools.length) {
        const li = document.createElement("li");
        li.className = "none";
        li.textContent = `No school matches “${query}”`;
        list.appendChild(li);
      }
      schools.forEach((s, i) => {
        const li = document.createElement("li");
        li.id = `school-option-${i}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.schoolId = s.school_id;
        li.append(document.createTextNode(s.name + " "));
        const id = document.createElement("span");
        id.className = "id";
        id.textContent = s.school_id + (s.grades ? ` · ${s.grades}` : "");
        li.appendChild(id);
        li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      list.dataset.query = query; // which search the options answer (tests wait on it)
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
      status.textContent = schools.length ? `${schools.length} school${schools.length > 1 ? "s" : ""} found` : "No school found";
    }
    async function search() {
      const q = input.value.trim();
      if (!q) { close(); return; }
      const mine = ++seq;
      try {
        const res = await fetch(`/api/schools?limit=12&q=${encodeURIComponent(q)}`, { headers: { Accept: "application/json" } });
        if (mine !== seq) return; // a newer keystroke won
        if (!res.ok) throw new Error((await res.json().catch(() => ({}))).detail || res.statusText);
        render(await res.json(), q);
      } catch (err) {
        if (mine === seq) { close(); status.textContent = `Search failed: ${err.message}`; }
      }
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 120); });
    input.addEventListener("keydown", (e) => {
      const open = !list.hidden && options.length;
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (list.hidden) { search(); return; }
        if (open) highlight(Math.min(active + 1, options.length - 1));
      } else if (e.key === "ArrowUp") {
        if (open) { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
      } else if (e.key === "Enter") {
        if (open && active >= 0) { e.preventDefault(); choose(active); }
      } else if (e.key === "Escape") {
        if (!list.hidden) { e.preventDefault(); close(); }
      }
    });
    input.addEventListener("blur", () => setTimeout(close, 100));
  }

  // ------------------------------------------------------------------ flash messages
  function flash(text, bad) {
    const box = $("#flash");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("bad", !!bad);
  }

  // Re-render the result and detail sections from the server after a change (same address).
  async function refresh() {
    const res = await fetch(location.href, { headers: { Accept: "text/html" } });
    const html = await res.text();
    const doc = new DOMParser().parseFromString(html, "text/html");
    for (const id of ["results", "detail"]) {
      const now = document.getElementById(id);
      const fresh = doc.getElementById(id);
      if (now && fresh) now.replaceWith(fresh);
    }
  }

  // ------------------------------------------------------------------ status buttons
  const LABELS = {
    shortlisted: "Shortlisted", contacted: "Contacted", declined: "Declined",
    partnered: "Partnered", do_not_contact: "Do not contact",
  };
  const REMOVES = {
    declined: "It is left out of suggestions during the cooldown.",
    partnered: "It is now a current partner and left out of suggestions (tick “Show current partners” to see it).",
    do_not_contact: "It will no longer be suggested.",
  };

  async function record(btn) {
    const { school, partner, status, name } = btn.dataset;
    const group = btn.closest(".actions");
    const noteBox = btn.closest(".record") ? $("#note") : null;
    const buttons = group ? group.querySelectorAll("button") : [btn];
    buttons.forEach((b) => (b.disabled = true));
    try {
      const res = await fetch(`/api/schools/${encodeURIComponent(school)}/partners/${encodeURIComponent(partner)}/status`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ status, note: noteBox ? noteBox.value : "" }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.detail || res.statusText);
      flash(`Recorded “${LABELS[status]}” for ${name} (${partner}) and ${school}. ${REMOVES[status] || ""}`.trim());
      await refresh();
      const heading = document.getElementById("results-heading");
      if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
    } catch (err) {
      flash(`Could not record the status: ${err.message}`, true);
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  // ------------------------------------------------------------------ CSV of the current list (need lists)
  // The server writes the CSV (one writer for every CSV, with formula cells neutralised); this only saves it.
  function csvText() {
    const data = $("#results-csv");
    return data ? JSON.parse(data.textContent) : "";
  }
  function downloadCsv(btn) {
    const blob = new Blob([csvText()], { type: "text/csv;charset=utf-8" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = btn.dataset.filename || "matches.csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
  }

  document.addEventListener("click", (e) => {
    const btn = e.target.closest("button");
    if (!btn) return;
    if (btn.classList.contains("status-btn")) record(btn);
    else if (btn.id === "csv-button") downloadCsv(btn);
  });

  picker();
  window.matcherPage = { csvText };
})();

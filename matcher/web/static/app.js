// matcher page: the school picker (search as you type), status buttons with Undo and saving the need list's CSV.
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

  // ------------------------------------------------------------------ status buttons, confirmation and Undo
  // A status is recorded through the API; the card acted on is then re-read from the server (same address) and
  // the confirmation, with an Undo, appears in that card. A card the status removes from the suggestions stays
  // in place, marked, until the next reload, so Undo is always one click away.
  const LABELS = {
    shortlisted: "Shortlisted", contacted: "Contacted", declined: "Declined",
    partnered: "Partnered", do_not_contact: "Do not contact", cleared: "no status",
  };
  const REMOVES = {
    declined: "It is left out of suggestions during the cooldown.",
    partnered: "It is now a current partner and left out of suggestions (tick “Show current partners” to see it).",
    do_not_contact: "It will no longer be suggested.",
  };

  function pairUrl(box, tail) {
    return `/api/schools/${encodeURIComponent(box.dataset.school)}/partners/${encodeURIComponent(box.dataset.partner)}/${tail}`;
  }

  // The element holding a record box: a result card, or the explanation panel.
  function holder(box) {
    return box.closest("li.match") || box.closest("#detail");
  }

  function findFresh(doc, old) {
    if (old.id === "detail") return doc.getElementById("detail");
    const list = doc.getElementById("matches");
    return list ? Array.from(list.children).find((li) => li.dataset.id === old.dataset.id) : null;
  }

  // Re-read the page (same address) and swap in the fresh copy of what the box belongs to, and of the
  // explanation; returns the record box now showing for the same pair.
  // A card the status took out of the suggestions: kept in place, marked, with its new status shown.
  function markGone(card, status) {
    card.classList.add("gone");
    let badge = card.querySelector(".badge");
    if (!badge) {
      badge = document.createElement("span");
      card.querySelector(".match-head").appendChild(badge);
    }
    badge.className = `badge st-${status}`;
    badge.textContent = `${(LABELS[status] || status).toLowerCase()} · not suggested now`;
  }

  async function refresh(box, status) {
    const res = await fetch(location.href, { headers: { Accept: "text/html" } });
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const old = holder(box);
    const { school, partner } = box.dataset;
    const same = (root) => Array.from(root.querySelectorAll(".record")).find(
      (r) => r.dataset.school === school && r.dataset.partner === partner);
    let now = old;
    const fresh = old ? findFresh(doc, old) : null;
    if (old && fresh) { old.replaceWith(fresh); now = fresh; }
    else if (old && old.matches("li.match")) { markGone(old, status); }
    const detail = document.getElementById("detail");
    const freshDetail = doc.getElementById("detail");
    if (detail && freshDetail && detail !== now) detail.replaceWith(freshDetail);
    // The card of the same pair, if the explanation was used (its badge and note change too).
    if (old && old.id === "detail") {
      const card = Array.from(document.querySelectorAll("#matches > li.match")).find((li) => li.querySelector(".record") && same(li));
      const freshCard = card ? findFresh(doc, card) : null;
      if (card && freshCard) card.replaceWith(freshCard);
      else if (card) markGone(card, status);
    }
    return (now && same(now)) || box;
  }

  function confirmIn(box, text, opts) {
    const area = box.querySelector(".confirm");
    if (!area) return;
    area.textContent = "";
    area.classList.toggle("bad", !!opts.bad);
    const p = document.createElement("span");
    p.textContent = text;
    area.appendChild(p);
    if (opts.undo) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "undo-btn";
      btn.textContent = "Undo";
      btn.setAttribute("aria-label", `Undo: ${text}`);
      area.appendChild(btn);
      btn.focus({ preventScroll: true });
    }
  }

  function setBusy(box, busy) {
    box.querySelectorAll("button").forEach((b) => (b.disabled = busy));
  }

  async function send(box, url, body) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.detail || res.statusText);
    return data;
  }

  async function record(btn) {
    const box = btn.closest(".record");
    const { status } = btn.dataset;
    const note = box.querySelector("input.note");
    setBusy(box, true);
    try {
      await send(box, pairUrl(box, "status"), { status, note: note ? note.value : "" });
      const now = await refresh(box, status);
      if (holder(now) && holder(now).classList.contains("gone")) setBusy(now, true);
      confirmIn(now, `Recorded “${LABELS[status]}” for ${box.dataset.name}. ${REMOVES[status] || ""}`.trim(), { undo: true });
      now.querySelector(".undo-btn").disabled = false;
    } catch (err) {
      setBusy(box, false);
      confirmIn(box, `Could not record the status: ${err.message}`, { bad: true });
    }
  }

  async function undo(btn) {
    const box = btn.closest(".record");
    btn.disabled = true;
    try {
      const event = await send(box, pairUrl(box, "status/undo"));
      const now = await refresh(box, event.status);
      const back = event.status === "cleared" ? "no status" : `“${LABELS[event.status] || event.status}”`;
      confirmIn(now, `Undone: ${box.dataset.name} is back to ${back}.`, {});
      const area = now.querySelector(".confirm");
      area.setAttribute("tabindex", "-1");
      area.focus({ preventScroll: true });
    } catch (err) {
      btn.disabled = false;
      confirmIn(box, `Could not undo: ${err.message}`, { bad: true });
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
    else if (btn.classList.contains("undo-btn")) undo(btn);
    else if (btn.id === "csv-button") downloadCsv(btn);
  });

  // A filter left blank is not sent, so the address holds only the filters set (the page reads either).
  const filterForm = document.getElementById("filter-form");
  if (filterForm) {
    filterForm.addEventListener("submit", () => {
      filterForm.querySelectorAll("input").forEach((el) => {
        const blank = (el.type === "radio" || el.type === "checkbox") ? el.checked && !el.value : !el.value.trim();
        if (blank || (el.name === "top" && el.value === el.dataset.default)) el.disabled = true;
      });
      setTimeout(() => filterForm.querySelectorAll("input:disabled").forEach((el) => (el.disabled = false)), 0);
    });
  }

  picker();
  window.matcherPage = { csvText };
})();

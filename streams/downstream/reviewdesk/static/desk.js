// hashgate review desk: the queue's live updates, revealing an image, decisions and shortcuts.
// Loaded as a file (the Content-Security-Policy forbids inline script); every value from the
// server is written with textContent, never as HTML.
"use strict";

(function () {
  const PREFIX = "/review";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function waited(seconds) {
    if (seconds < 60) return Math.floor(seconds) + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h";
    return Math.floor(seconds / 86400) + " d";
  }

  function fillSelect(select, values) {
    const chosen = select.value;
    const known = new Set(Array.from(select.options).map((o) => o.value));
    for (const value of values) {
      if (!known.has(value)) {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = value;
        select.appendChild(option);
      }
    }
    select.value = chosen;
  }

  function queue() {
    const tenant = document.getElementById("tenant");
    const source = document.getElementById("source");
    const body = document.querySelector("#queue tbody");
    const empty = document.getElementById("empty");
    const updated = document.getElementById("updated");

    async function refresh() {
      const query = new URLSearchParams({ tenant: tenant.value, source: source.value });
      const response = await fetch(PREFIX + "/api/pending?" + query, { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.assign(PREFIX + "/login?next=" + encodeURIComponent(PREFIX + "/"));
        return;
      }
      const data = await response.json();
      fillSelect(tenant, data.tenants);
      fillSelect(source, data.sources);
      const rows = data.reports.map((report) => {
        const row = document.createElement("tr");
        row.dataset.report = report.report_id;
        cell(row, waited(report.waiting_s));
        cell(row, report.tenant);
        const link = document.createElement("a");
        link.href = PREFIX + "/reports/" + encodeURIComponent(report.report_id);
        link.textContent = report.content_id;
        cell(row, "").appendChild(link);
        cell(row, report.sources.join(", "));
        cell(row, report.violations.join(", "));
        const distances = report.matches.map((m) => m.distance).filter((d) => d !== null);
        cell(row, distances.length ? distances.join(", ") : "-");
        cell(row, report.tracking_id);
        return row;
      });
      body.replaceChildren(...rows);
      empty.hidden = rows.length > 0;
      updated.textContent = "updated " + new Date().toLocaleTimeString();
    }

    tenant.addEventListener("change", refresh);
    source.addEventListener("change", refresh);
    document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
    refresh();
    window.setInterval(refresh, 3000);
  }

  function report() {
    const reportId = document.querySelector(".report").dataset.report;
    const image = document.getElementById("evidence");
    const revealButton = document.getElementById("reveal");
    const status = document.getElementById("status");
    const approveButton = document.getElementById("approve");
    const rejectForm = document.getElementById("reject");
    const reason = document.getElementById("reason");

    function blurAgain() {
      if (image.classList.contains("revealed")) {
        image.src = image.dataset.blurred;
        image.alt = "The matched image, blurred";
        image.classList.replace("revealed", "blurred");
        revealButton.disabled = false;
      }
    }

    async function reveal() {
      revealButton.disabled = true;
      const response = await post(PREFIX + "/reports/" + reportId + "/reveal");
      if (!response.ok) {
        revealButton.disabled = false;
        return;
      }
      image.src = (await response.json()).url;
      image.alt = "The matched image, revealed";
      image.classList.replace("blurred", "revealed");
    }

    function said(text, ok) {
      if (status) {
        status.textContent = text;
        status.className = ok ? "done" : "problem";
      }
    }

    async function decide(choice, body) {
      const response = await post(PREFIX + "/api/reports/" + reportId + "/" + choice, body);
      const json = (response.headers.get("Content-Type") || "").startsWith("application/json");
      if (!json) {
        // A failure outside the desk's own answers (its audit write, a proxy): nothing decided.
        said("Not decided (HTTP " + response.status + "); nothing was recorded, try again", false);
        return;
      }
      const data = await response.json();
      if (response.ok) {
        said((choice === "approve" ? "Approved" : "Rejected") + ": decision " + data.decision_id, true);
        approveButton.disabled = true;
        rejectForm.querySelector("button").disabled = true;
      } else {
        said(data.error, false);
      }
    }

    revealButton.addEventListener("click", reveal);
    image.addEventListener("mouseleave", blurAgain);
    window.addEventListener("blur", blurAgain);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) blurAgain();
    });
    window.addEventListener("pagehide", blurAgain);
    if (approveButton) approveButton.addEventListener("click", () => decide("approve"));
    if (rejectForm) {
      rejectForm.addEventListener("submit", (event) => {
        event.preventDefault();
        if (reason.value.trim()) decide("reject", { reason: reason.value });
        else reason.focus();
      });
      reason.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) rejectForm.requestSubmit();
      });
    }
    document.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement) {
        if (event.key === "Escape") event.target.blur();
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "v" && !revealButton.disabled) reveal();
      else if (event.key === "Escape") blurAgain();
      else if (event.key === "a" && approveButton && !approveButton.disabled) decide("approve");
      else if (event.key === "r" && reason) {
        event.preventDefault();
        reason.focus();
      }
    });
  }

  const page = document.body.dataset.page;
  if (page === "queue") queue();
  else if (page === "report") report();
})();

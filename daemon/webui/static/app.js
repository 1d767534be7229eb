// Ferry's settings window: live status (server-sent events) and confirmations. The pages work without it.
"use strict";
(function () {
  const base = document.querySelector('meta[name="ferry-base"]').content;

  function when(ts) {
    if (typeof ts !== "number") { return "not yet"; }
    const d = new Date(ts * 1000), p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function show(status) {
    const values = {
      state: status.state, message: status.message, conflicts: status.conflicts, errors: status.errors,
      deletions_pending: status.deletions_pending, last_sync: when(status.last_sync),
      pending_up: status.pending_up ? status.pending_up.count : "",
      pending_down: status.pending_down ? status.pending_down.count : "",
    };
    document.querySelectorAll("[data-live]").forEach((el) => {
      const v = values[el.dataset.live];
      if (v !== undefined && el.textContent !== String(v)) { el.textContent = String(v); }
    });
    (status.folders || []).forEach((f) => {
      document.querySelectorAll(`tr[data-folder="${CSS.escape(f.id)}"] [data-live-folder="message"]`).forEach((el) => {
        if (el.textContent !== f.message) { el.textContent = f.message; }
      });
    });
    document.body.dataset.state = status.state || "";
    // a list page (deletions, conflicts) shows the daemon's list as it was: reload it when the count moves
    document.querySelectorAll("[data-reload-when]").forEach((el) => {
      const now = status[el.dataset.reloadWhen];
      if (typeof now === "number" && String(now) !== el.dataset.shown) { window.location.reload(); }
    });
  }

  if (window.EventSource) {
    const source = new EventSource(`${base}/events`);
    source.addEventListener("status", (e) => show(JSON.parse(e.data)));
    source.onerror = () => { document.body.dataset.state = "disconnected"; };
  }

  document.addEventListener("submit", (e) => {
    const question = e.target.dataset.confirm;
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });
})();

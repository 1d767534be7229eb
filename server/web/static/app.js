// Ferry web app: what a plain form cannot do. Uploads stream each chosen file as the request body (the server
// cuts it into blocks as it arrives), and destructive forms ask first. No inline script: the CSP forbids it.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const base = "/web";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });

  const input = document.getElementById("upload-files");
  if (!input) { return; }
  const form = document.getElementById("upload");
  const status = document.getElementById("upload-status");
  input.addEventListener("change", async function () {
    const folder = form.dataset.folder;
    const chosen = Array.from(input.files);
    const failed = [];
    for (let i = 0; i < chosen.length; i++) {
      const file = chosen[i];
      status.textContent = "Uploading " + file.name + " (" + (i + 1) + " of " + chosen.length + ")…";
      const path = folder ? folder + "/" + file.name : file.name;
      const url = base + "/upload?path=" + encodeURIComponent(path) + "&mtime_ms=" + file.lastModified;
      try {
        const res = await fetch(url, {method: "POST", body: file, credentials: "same-origin",
          headers: {"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"}});
        if (!res.ok) {
          let message = res.statusText;
          try { message = (await res.json()).error; } catch (e) { message = await res.text(); }
          failed.push(file.name + ": " + message);
        }
      } catch (e) {
        failed.push(file.name + ": " + e);
      }
    }
    const note = failed.length ? "error=" + encodeURIComponent("Not uploaded: " + failed.join("; "))
      : "note=" + encodeURIComponent("Uploaded " + chosen.length + " file(s).");
    window.location.assign(window.location.pathname + "?" + note);
  });
})();

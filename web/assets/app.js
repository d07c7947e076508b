// The page works without this script (plain forms). With it, "Run now"
// starts a job without leaving the page, the job's row follows its run,
// and the page reloads when the run ends, showing its volumes' new state.
"use strict";
(function () {
  const token = document.body.dataset.token;

  async function jobs() {
    const r = await fetch("/api/jobs", { headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error("jobs: " + r.status);
    return r.json();
  }

  function follow(name) {
    const row = document.getElementById("job-" + name);
    const result = row && row.querySelector(".result");
    const started = Date.now();
    const tick = async () => {
      let list;
      try { list = await jobs(); } catch (e) { setTimeout(tick, 2000); return; }
      const job = list.find((j) => j.name === name);
      if (job && job.running) {
        if (result) result.textContent = "running for " + Math.round((Date.now() - started) / 1000) + " s";
        setTimeout(tick, 1000);
        return;
      }
      location.replace("/?notice=" + encodeURIComponent("job " + name + (job && job.last_error ? " failed" : " finished")));
    };
    tick();
  }

  document.querySelectorAll("form.run").forEach((form) => {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      const name = decodeURIComponent(form.getAttribute("action").split("/")[2]);
      const r = await fetch(form.getAttribute("action"), { method: "POST", headers: { "X-Lifeboat-Token": token } });
      if (r.status === 202 || r.status === 409) {
        follow(name);
        return;
      }
      const body = await r.json().catch(() => ({ error: r.statusText }));
      button.disabled = false;
      alert(body.error || r.statusText);
    });
  });

  document.querySelectorAll("tr[data-running=true]").forEach((row) => follow(row.id.slice(4)));
})();

// The tasks page follows running tasks until they are done.
(function () {
  if (!document.querySelector("tr[data-done=false]")) return;
  setTimeout(() => location.reload(), 1000);
})();

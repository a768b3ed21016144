// lunas finance console: the only script. It polls the progress of running
// bulk sendings (elements with data-poll) and updates them in place; every
// page works without it.
"use strict";
(function () {
  function poll(el) {
    var url = el.getAttribute("data-poll");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        var json = (res.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!res.ok || !json) { return null; } // signed out or gone: stop quietly
        return res.json();
      })
      .then(function (p) {
        if (!p) { return; }
        ["sent", "failed", "skipped", "total"].forEach(function (k) {
          var f = el.querySelector('[data-field="' + k + '"]');
          if (f) { f.textContent = String(p[k]); }
        });
        var bar = el.querySelector("progress");
        if (bar) { bar.max = p.total || 1; bar.value = p.done; bar.textContent = p.done + "/" + p.total; }
        var st = el.querySelector('[data-field="status"]');
        if (st && st.getAttribute("data-" + p.status)) { st.textContent = st.getAttribute("data-" + p.status); }
        if (p.status === "running") { setTimeout(function () { poll(el); }, 2000); }
      })
      .catch(function () { setTimeout(function () { poll(el); }, 5000); });
  }
  document.querySelectorAll("[data-poll]").forEach(function (el) { setTimeout(function () { poll(el); }, 1000); });
})();

// The pay page's small script: the deadline countdown, copy buttons, and
// the live status (polling /pay/{token}/status), so the page turns paid
// without a reload. The page works without it.
(function () {
  "use strict";
  var body = document.body;
  var lang = body.getAttribute("data-lang");
  var deadline = body.getAttribute("data-deadline");
  var cd = document.getElementById("countdown");
  function tick() {
    if (!cd || !deadline) { return; }
    var left = Math.floor((Date.parse(deadline) - Date.now()) / 1000);
    if (left <= 0) { cd.textContent = ""; return; }
    var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    cd.textContent = "(" + (d > 0 ? d + (lang === "en" ? (d === 1 ? " day " : " days ") : " hari ") : "") + two(h) + ":" + two(m) + ":" + two(s) + ")";
  }
  tick();
  setInterval(tick, 1000);

  Array.prototype.forEach.call(document.querySelectorAll("button.copy"), function (b) {
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (el && navigator.clipboard) { navigator.clipboard.writeText(el.textContent.trim()).catch(function () {}); }
    });
  });

  var url = body.getAttribute("data-status-url");
  var shown = body.getAttribute("data-status");
  var st = document.getElementById("status");
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (s) {
      if (!s || s.status === shown) { return; }
      shown = s.status;
      if (s.status === "paid") {
        st.textContent = st.getAttribute("data-paid");
        ["payable", "deadline"].forEach(function (id) {
          var el = document.getElementById(id);
          if (el) { el.hidden = true; }
        });
        document.getElementById("paid").hidden = false;
        document.getElementById("paid").focus();
      } else {
        // Any other change (expired, in review, cancelled): the server's
        // page says what it means.
        // The page's notices (?proof=1, ?error=) belonged to the old state.
        var lang = new URLSearchParams(window.location.search).get("lang");
        window.location.replace(window.location.pathname + (lang ? "?lang=" + encodeURIComponent(lang) : ""));
      }
    }).catch(function () {});
  }
  if (url && (shown === "awaiting_payment" || shown === "in_review" || shown === "rejected")) { setInterval(poll, 3000); }
})();

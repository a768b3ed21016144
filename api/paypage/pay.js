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

  // Card: Midtrans's own script turns the card into a token in the
  // browser; the page opens the attempt with the token, then follows 3-D
  // Secure when the gateway asks for it.
  var cardForm = document.getElementById("card-form");
  if (cardForm) {
    // Shown only where it can work: the tokenizing needs this script.
    document.getElementById("card").hidden = false;
    cardForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var err = document.getElementById("card-error");
      var fail = function (msg) { err.textContent = msg; err.hidden = false; };
      err.hidden = true;
      if (!window.MidtransNew3ds) { fail("Midtrans"); return; }
      var v = function (id) { return document.getElementById(id).value.replace(/\s+/g, ""); };
      window.MidtransNew3ds.getCardToken({ card_number: v("cc-number"), card_exp_month: v("cc-month"),
        card_exp_year: v("cc-year"), card_cvv: v("cc-cvv") }, {
        onSuccess: function (res) {
          fetch(body.getAttribute("data-pay-url"), { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
            body: JSON.stringify({ method: "credit_card", card_token: res.token_id }) }).then(function (r) {
            return r.json().then(function (a) { return { ok: r.ok, a: a }; });
          }).then(function (x) {
            if (!x.ok) { fail(x.a.detail || "error"); return; }
            if (x.a.redirect_url) { window.location.assign(x.a.redirect_url); return; }
            poll();
          }).catch(function () { fail("network"); });
        },
        onFailure: function (res) { fail((res && res.status_message) || "card"); }
      });
    });
  }

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

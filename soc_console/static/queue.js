/* socpipe alert queue: the new-alerts indicator and live tab counts. No inline scripts (CSP).

   Every `data-every` seconds the queue asks /api/v1/alerts/news (its own filters, `since` the moment
   the page was shown) how many matching alerts arrived and how many each status tab holds. It only
   writes numbers into the page: it never reloads it, so the analyst's scroll position, selected row,
   ticked boxes and half-typed text stay as they are. The indicator's link shows the newest when the
   analyst chooses to. A tab in the background does not poll; it catches up when shown again. */
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("new-alerts");
    if (!box || !window.fetch) { return; }
    var every = Math.max(5, Number(box.dataset.every) || 30) * 1000;
    var url = box.dataset.poll + (box.dataset.poll.indexOf("?") < 0 ? "?" : "&") +
      "since=" + encodeURIComponent(box.dataset.since);
    var numbers = new Intl.NumberFormat(document.documentElement.lang === "vi" ? "vi-VN" : "en-US");
    var busy = false;

    function show(answer) {
      var counts = answer.status_counts || {};
      Array.prototype.forEach.call(document.querySelectorAll("#status-tabs [data-count]"), function (el) {
        var n = counts[el.dataset.count];
        if (typeof n === "number") { el.textContent = numbers.format(n); }
      });
      if (typeof answer.new === "number" && answer.new > 0) {
        document.getElementById("new-alerts-count").textContent = numbers.format(answer.new);
        box.hidden = false;
      }
    }

    function poll() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (resp) { return resp.ok ? resp.json() : null; })
        .then(function (answer) { if (answer) { show(answer); } })
        .catch(function () { /* offline or signed out: the next tick asks again */ })
        .then(function () { busy = false; });
    }

    window.setInterval(poll, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { poll(); } });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

/* socpipe console: keyboard shortcuts and bulk selection. No inline scripts anywhere (CSP). */
(function () {
  "use strict";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.alert-row")); }
  function current() { return document.querySelector("tr.alert-row.current"); }
  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function help(show) {
    var box = document.getElementById("help");
    if (!box) { return; }
    box.hidden = show === undefined ? !box.hidden : !show;
  }
  function move(step) {
    var list = rows();
    if (!list.length) { return; }
    var at = list.indexOf(current());
    var next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
    list.forEach(function (r) { r.classList.remove("current"); });
    list[next].classList.add("current");
    list[next].focus({ preventScroll: true });
    list[next].scrollIntoView({ block: "nearest" });
  }
  function picks() { return Array.prototype.slice.call(document.querySelectorAll("input.pick")); }
  function updateCount() {
    var out = document.getElementById("selected-count");
    if (out) { out.textContent = String(picks().filter(function (p) { return p.checked; }).length); }
  }
  function acknowledge() {
    var bulk = document.getElementById("bulk-ack");
    if (bulk) {
      if (!picks().some(function (p) { return p.checked; })) {
        var row = current();
        var box = row && row.querySelector("input.pick");
        if (!box) { return; }
        box.checked = true;
      }
      bulk.click();
      return;
    }
    var ack = document.getElementById("ack");
    if (ack) { ack.click(); }
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "Escape") { help(false); if (typing(document.activeElement)) { document.activeElement.blur(); } return; }
    if (typing(ev.target)) { return; }
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": {
        var row = current();
        if (row && row.dataset.href) { window.location.assign(row.dataset.href); } else { return; }
        break;
      }
      case "x": {
        var r = current();
        var box = r && r.querySelector("input.pick");
        if (box) { box.checked = !box.checked; updateCount(); }
        break;
      }
      case "a": acknowledge(); break;
      case "/": {
        var search = document.getElementById("search");
        if (search) { search.focus(); search.select(); } else { window.location.assign("/alerts"); }
        break;
      }
      case "?": help(); break;
      default: return;
    }
    ev.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        picks().forEach(function (p) { p.checked = all.checked; });
        updateCount();
      });
    }
    picks().forEach(function (p) { p.addEventListener("change", updateCount); });
    Array.prototype.forEach.call(document.querySelectorAll("[data-help]"), function (link) {
      link.addEventListener("click", function (ev) { ev.preventDefault(); help(); });
    });
    rows().forEach(function (row) {
      row.addEventListener("click", function (ev) {
        if (ev.target.closest("a, input, button, label")) { return; }
        rows().forEach(function (r) { r.classList.remove("current"); });
        row.classList.add("current");
      });
    });
    updateCount();
  });
})();

/* socpipe event explorer: query history, documents opened under their row, field-name filter, and
   exports with a progress indicator. No inline scripts anywhere (CSP); everything shown from the
   server was escaped there, and what this script writes itself goes in as text. Without script the
   page still works: the history is the browser's own, a row's arrow opens the event's page, an
   export link downloads directly. */
(function () {
  "use strict";

  var HISTORY_MAX = 20;

  function historyKey() {
    var root = document.getElementById("explorer");
    return root ? root.dataset.historyKey : null;
  }

  function readHistory() {
    try {
      var list = JSON.parse(window.localStorage.getItem(historyKey()) || "[]");
      return Array.isArray(list) ? list.filter(function (q) { return typeof q === "string"; }) : [];
    } catch (e) {
      return [];
    }
  }

  function writeHistory(list) {
    try {
      window.localStorage.setItem(historyKey(), JSON.stringify(list.slice(0, HISTORY_MAX)));
    } catch (e) { /* storage full or refused: history is a convenience, the query still runs */ }
  }

  function showHistory() {
    var list = readHistory();
    var box = document.getElementById("query-history");
    var clear = document.getElementById("clear-history");
    if (!box) { return; }
    box.textContent = "";
    list.forEach(function (q) {
      var option = document.createElement("option");
      option.value = q;
      box.appendChild(option);
    });
    if (clear) { clear.hidden = list.length === 0; }
  }

  function remember(q) {
    q = (q || "").trim();
    if (!q) { return; }
    writeHistory([q].concat(readHistory().filter(function (old) { return old !== q; })));
  }

  function openDocument(link) {
    var row = link.closest("tr");
    var docRow = row && row.nextElementSibling;
    if (!docRow || !docRow.classList.contains("doc-row")) { return false; }
    var cell = docRow.firstElementChild;
    var open = docRow.hidden;
    docRow.hidden = !open;
    link.setAttribute("aria-expanded", open ? "true" : "false");
    link.textContent = open ? "▾" : "▸";
    if (open && !cell.dataset.loaded) {
      cell.dataset.loaded = "1";
      fetch(link.dataset.fragment, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (resp) {
          if (!resp.ok) { throw new Error(String(resp.status)); }
          return resp.text();
        })
        .then(function (html) {
          // Our own server's fragment, every value escaped there (Jinja autoescape).
          var parsed = new DOMParser().parseFromString(html, "text/html");
          cell.textContent = "";
          Array.prototype.forEach.call(parsed.body.childNodes, function (node) {
            cell.appendChild(document.importNode(node, true));
          });
        })
        .catch(function () {
          delete cell.dataset.loaded;
          window.location.assign(link.href);  // the event's own page says what went wrong
        });
    }
    return true;
  }

  function filterFields(text) {
    var needle = text.trim().toLowerCase();
    Array.prototype.forEach.call(document.querySelectorAll("details.field"), function (field) {
      field.hidden = needle !== "" && field.dataset.field.toLowerCase().indexOf(needle) < 0;
    });
  }

  function countRows(chunk) {
    var n = 0;
    for (var i = 0; i < chunk.length; i++) { if (chunk[i] === 10) { n++; } }
    return n;
  }

  function exportWithProgress(link) {
    var box = document.getElementById("export-progress");
    if (!box || !window.ReadableStream || !window.fetch) { return false; }
    var bar = box.querySelector("progress");
    var label = box.querySelector(".rows");
    var expected = parseInt(link.dataset.rows || "0", 10);
    var isCsv = link.id === "export-csv";
    var parts = [];
    var rows = 0;
    box.hidden = false;
    box.classList.remove("failed");
    bar.max = Math.max(expected, 1);
    bar.value = 0;
    label.textContent = "0 / " + expected.toLocaleString();
    fetch(link.href, { credentials: "same-origin" })
      .then(function (resp) {
        if (!resp.ok || !resp.body) { throw new Error(String(resp.status)); }
        var name = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
        var reader = resp.body.getReader();
        function pump() {
          return reader.read().then(function (step) {
            if (step.done) {
              var blob = new Blob(parts, { type: resp.headers.get("Content-Type") || "application/octet-stream" });
              var url = URL.createObjectURL(blob);
              var a = document.createElement("a");
              a.href = url;
              a.download = name ? name[1] : (isCsv ? "events.csv" : "events.ndjson");
              document.body.appendChild(a);
              a.click();
              a.remove();
              window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
              bar.value = bar.max;
              label.textContent = box.dataset.done + " " + expected.toLocaleString();
              return;
            }
            parts.push(step.value);
            rows += countRows(step.value);
            var shown = Math.min(Math.max(rows - (isCsv ? 1 : 0), 0), expected);
            bar.value = shown;
            label.textContent = shown.toLocaleString() + " / " + expected.toLocaleString();
            return pump();
          });
        }
        return pump();
      })
      .catch(function (err) {
        box.classList.add("failed");
        label.textContent = box.dataset.failed + " " + err.message;
      });
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("explorer")) { return; }
    showHistory();
    if (!document.getElementById("query-error")) {  // a query that ran is worth remembering
      remember((document.getElementById("search") || {}).value);
      showHistory();
    }
    var clear = document.getElementById("clear-history");
    if (clear) {
      clear.addEventListener("click", function () { writeHistory([]); showHistory(); });
    }
    var filter = document.getElementById("field-filter");
    if (filter) {
      filter.hidden = false;
      filter.addEventListener("input", function () { filterFields(filter.value); });
    }
    document.addEventListener("click", function (ev) {
      if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) { return; }
      var expand = ev.target.closest("a.expand");
      if (expand && openDocument(expand)) { ev.preventDefault(); return; }
      var exporting = ev.target.closest("a.export");
      if (exporting && exportWithProgress(exporting)) { ev.preventDefault(); }
    });
  });
})();

// tenantkit monitor dashboard: table sorting and a live data-age label.
// No dependencies; the page works without it, only unsorted and static.
(function () {
  "use strict";
  var root = document.documentElement;
  window.addEventListener("error", function () {
    root.dataset.jsErrors = String((Number(root.dataset.jsErrors) || 0) + 1);
  });

  function cellValue(row, idx, type) {
    var cell = row.cells[idx];
    var v = cell ? cell.getAttribute("data-v") : "";
    if (v === null || v === "") return null;
    if (type === "num") {
      var n = Number(v);
      return Number.isFinite(n) ? n : null;
    }
    return v.toLowerCase();
  }

  function sortTable(table, th) {
    var tbody = table.tBodies[0];
    var idx = th.cellIndex;
    var type = th.getAttribute("data-type");
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var headers = table.tHead.rows[0].cells;
    for (var i = 0; i < headers.length; i++) headers[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir);
    var rows = Array.prototype.slice.call(tbody.rows).filter(function (r) { return r.hasAttribute("data-id"); });
    var sign = dir === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = cellValue(a, idx, type), y = cellValue(b, idx, type);
      if (x === null && y === null) return 0;
      if (x === null) return 1; // absent values last in both directions
      if (y === null) return -1;
      if (x < y) return -sign;
      if (x > y) return sign;
      return 0;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
  }

  function initSorting() {
    var tables = document.querySelectorAll("table#tenants");
    Array.prototype.forEach.call(tables, function (table) {
      Array.prototype.forEach.call(table.querySelectorAll("th[data-key]"), function (th) {
        th.tabIndex = 0;
        th.addEventListener("click", function () { sortTable(table, th); });
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, th); }
        });
      });
    });
  }

  function fmtAge(s) {
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h ago";
  }

  function initAge() {
    var el = document.getElementById("data-age");
    if (!el) return;
    var asof = Number(el.getAttribute("data-asof"));
    var generated = Number(el.getAttribute("data-generated"));
    if (!asof || !generated) return;
    var loaded = Date.now();
    function tick() {
      var s = Math.max(0, Math.round((generated - asof + Date.now() - loaded) / 1000));
      el.textContent = fmtAge(s);
    }
    tick();
    setInterval(tick, 10000);
  }

  function init() {
    initSorting();
    initAge();
    root.dataset.ready = "1";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// Sluice console: progressive enhancement only; every page works without it.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  function enhance(root) {
    root.querySelectorAll("form[data-autosubmit] select").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
    root.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
    root.querySelectorAll("input[data-select]").forEach(function (i) {
      i.addEventListener("focus", function () { i.select(); });
    });
  }

  var palette = { a: "#2563eb", b: "#dc2626", c: "#059669", d: "#7c3aed" };

  function chartOpts(kind, width) {
    var base = {
      width: width, height: 180,
      scales: { x: { time: true } },
      axes: [{ stroke: "#475569" }, { stroke: "#475569", size: 60 }],
      legend: { live: false }
    };
    var s = { requests: [{ label: "Requests", stroke: palette.a, width: 2 }, { label: "Errors", stroke: palette.b, width: 2 }],
      tokens: [{ label: "Tokens", stroke: palette.c, width: 2 }],
      cost: [{ label: "Cost (USD)", stroke: palette.d, width: 2 }],
      latency: [{ label: "p50 ms", stroke: palette.a, width: 2 }, { label: "p95 ms", stroke: palette.b, width: 2 }] }[kind];
    base.series = [{}].concat(s);
    if (kind === "cost") {
      base.axes[1].size = 80;
      base.axes[1].values = function (u, vals) { return vals.map(function (v) { return "$" + Number(v.toPrecision(2)); }); };
      base.series[1].value = function (u, v) { return v == null ? "" : "$" + v.toFixed(6); };
    }
    return base;
  }

  function chartData(kind, d) {
    switch (kind) {
      case "requests": return [d.x, d.requests, d.errors];
      case "tokens": return [d.x, d.tokens];
      case "cost": return [d.x, d.cost_usd];
      case "latency": return [d.x, d.p50_ms, d.p95_ms];
    }
    return [d.x];
  }

  function charts() {
    var box = document.getElementById("charts");
    if (!box || typeof uPlot === "undefined") return;
    var d;
    try { d = JSON.parse(box.getAttribute("data-series")); } catch (e) { return; }
    var plots = [];
    box.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.getAttribute("data-chart");
      var w = Math.max(240, el.clientWidth);
      plots.push({ el: el, u: new uPlot(chartOpts(kind, w), chartData(kind, d), el) });
    });
    box.setAttribute("data-drawn", String(plots.length));
    var t;
    window.addEventListener("resize", function () {
      clearTimeout(t);
      t = setTimeout(function () {
        plots.forEach(function (p) { p.u.setSize({ width: Math.max(240, p.el.clientWidth), height: 180 }); });
      }, 150);
    });
  }

  function tryIt() {
    var f = document.getElementById("tryit");
    if (!f) return;
    var out = document.getElementById("tryit-out");
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      out.textContent = "Sending…";
      var body = { model: f.getAttribute("data-model"), messages: [{ role: "user", content: document.getElementById("t-msg").value }] };
      fetch(f.getAttribute("data-path") || "/v1/chat/completions", {
        method: "POST", credentials: "omit",
        headers: { "Authorization": "Bearer " + document.getElementById("t-key").value, "Content-Type": "application/json" },
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.text().then(function (t) {
          try { t = JSON.stringify(JSON.parse(t), null, 2); } catch (e) { /* not JSON: as it came */ }
          out.textContent = r.status + " " + r.statusText + "\n" + t;
        });
      }).catch(function (err) { out.textContent = String(err); });
    });
  }

  onReady(function () {
    enhance(document);
    charts();
    tryIt();
    document.body.addEventListener("htmx:afterSwap", function (e) { enhance(e.target); });
  });
})();

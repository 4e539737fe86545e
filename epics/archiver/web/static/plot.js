// History plot of up to 4 PVs (epics.archiver). Written for this package; no library.
// Reads the PV names from the form, the range from the URL (from/to in POSIX seconds, default
// the past day), asks /api/history (min/max per bucket, decimated by the database) and draws on
// a canvas: time axis, value axis (linear or log), enum labels as ticks, gaps as breaks.
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#c0392b", "#1e8449", "#8e44ad"];
  var SEVERITY = ["", "#d4ac0d", "#e74c3c", "#8e44ad"];
  var DAY = 86400;
  var canvas = document.getElementById("plot");
  var form = document.getElementById("controls");
  var fromInput = document.getElementById("from");
  var toInput = document.getElementById("to");
  var logInput = document.getElementById("log");
  var csvLink = document.getElementById("csv");
  var stateLine = document.getElementById("plot-state");
  var params = new URLSearchParams(window.location.search);
  var now = Date.now() / 1000;
  var range = { to: Number(params.get("to")) || now };
  range.from = Number(params.get("from")) || range.to - DAY;
  logInput.checked = params.get("log") === "1";
  var series = [];

  function pvNames() {
    return Array.prototype.map.call(form.querySelectorAll("input[name=pv]"), function (el) {
      return el.value.trim();
    }).filter(function (name) { return name.length > 0; });
  }

  function localInput(seconds) {
    var d = new Date(seconds * 1000);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function query() {
    var q = new URLSearchParams();
    pvNames().forEach(function (name) { q.append("pv", name); });
    q.set("from", range.from.toFixed(3));
    q.set("to", range.to.toFixed(3));
    return q;
  }

  function niceStep(span, count) {
    var raw = span / count;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * power >= raw) { return steps[i] * power; } }
    return 10 * power;
  }

  function timeStep(span) {
    var choices = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, DAY, 2 * DAY, 7 * DAY];
    for (var i = 0; i < choices.length; i++) { if (span / choices[i] <= 8) { return choices[i]; } }
    return 30 * DAY;
  }

  function timeLabel(t, step) {
    var d = new Date(t * 1000);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    var hm = pad(d.getHours()) + ":" + pad(d.getMinutes()) + (step < 60 ? ":" + pad(d.getSeconds()) : "");
    return step >= DAY ? (d.getMonth() + 1) + "/" + d.getDate() : hm;
  }

  function draw() {
    var ctx = canvas.getContext("2d");
    var W = canvas.width, H = canvas.height;
    var left = 80, right = 20, top = 20, bottom = 60;
    var logScale = logInput.checked;
    ctx.clearRect(0, 0, W, H);
    ctx.font = "12px sans-serif";
    var lo = Infinity, hi = -Infinity, enumLabels = null, points = 0;
    var scaled = function (v) { return logScale ? (v > 0 ? Math.log10(v) : null) : v; };
    series.forEach(function (s) {
      for (var i = 0; i < s.t.length; i++) {
        [s.min[i], s.max[i]].forEach(function (v) {
          var y = v === null ? null : scaled(v);
          if (y !== null && isFinite(y)) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
        });
      }
      if (s.kind === "enum" && s.enum_strs.length) { enumLabels = s.enum_strs; }
    });
    if (enumLabels && series.length === 1 && !logScale) { lo = Math.min(lo, 0); hi = Math.max(hi, enumLabels.length - 1); }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi === lo) { hi += 1; lo -= 1; }
    var pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
    var x = function (t) { return left + (t - range.from) / (range.to - range.from) * (W - left - right); };
    var y = function (v) { return top + (hi - v) / (hi - lo) * (H - top - bottom); };
    // axes and grid
    ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#333"; ctx.lineWidth = 1;
    ctx.strokeRect(left, top, W - left - right, H - top - bottom);
    var tstep = timeStep(range.to - range.from);
    var offset = new Date().getTimezoneOffset() * 60;
    for (var t = Math.ceil((range.from - offset) / tstep) * tstep + offset; t <= range.to; t += tstep) {
      ctx.beginPath(); ctx.moveTo(x(t), top); ctx.lineTo(x(t), H - bottom); ctx.stroke();
      ctx.textAlign = "center"; ctx.fillText(timeLabel(t, tstep), x(t), H - bottom + 16);
    }
    ctx.textAlign = "right";
    if (enumLabels && series.length === 1 && !logScale) {
      enumLabels.forEach(function (label, i) {
        ctx.beginPath(); ctx.moveTo(left, y(i)); ctx.lineTo(W - right, y(i)); ctx.stroke();
        ctx.fillText(label, left - 6, y(i) + 4);
      });
    } else {
      var vstep = niceStep(hi - lo, 6);
      for (var v = Math.ceil(lo / vstep) * vstep; v <= hi; v += vstep) {
        ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(W - right, y(v)); ctx.stroke();
        var text = logScale ? "1e" + v.toFixed(1) : Number(v.toPrecision(6)).toString();
        ctx.fillText(text, left - 6, y(v) + 4);
      }
    }
    // the series: steps between raw samples, min-max bars between buckets; gaps break lines
    series.forEach(function (s, index) {
      ctx.strokeStyle = COLOURS[index]; ctx.lineWidth = 1.5;
      var open = false, lastY = null;
      ctx.beginPath();
      for (var i = 0; i < s.t.length; i++) {
        if (s.gap[i] || s.min[i] === null) {
          if (open && lastY !== null) { ctx.lineTo(x(s.t[i]), lastY); }
          open = false; lastY = null; continue;
        }
        var ymin = scaled(s.min[i]), ymax = scaled(s.max[i]);
        if (ymin === null || ymax === null) { open = false; continue; }
        var px = x(s.t[i]);
        if (!open) { ctx.moveTo(px, y(ymin)); open = true; }
        else if (s.mode === "raw") { ctx.lineTo(px, lastY); }
        ctx.lineTo(px, y(ymin)); ctx.lineTo(px, y(ymax));
        lastY = y(ymax); points++;
      }
      if (open && lastY !== null && s.mode === "raw") { ctx.lineTo(x(Math.min(range.to, Date.now() / 1000)), lastY); }
      ctx.stroke();
      for (i = 0; i < s.t.length; i++) {
        if (s.severity[i] > 0 && !s.gap[i] && s.max[i] !== null && scaled(s.max[i]) !== null) {
          ctx.fillStyle = SEVERITY[Math.min(3, s.severity[i])];
          ctx.fillRect(x(s.t[i]) - 2, y(scaled(s.max[i])) - 2, 4, 4);
        }
      }
      ctx.fillStyle = COLOURS[index]; ctx.textAlign = "left";
      ctx.fillText(s.name + (s.units ? " [" + s.units + "]" : "") + (s.mode === "minmax" ? " (min/max)" : ""),
                   left + 10 + index * ((W - left) / 4), H - 18);
    });
    canvas.dataset.points = String(points);
    canvas.dataset.ready = "1";
  }

  function load() {
    var names = pvNames();
    fromInput.value = localInput(range.from);
    toInput.value = localInput(range.to);
    var q = query();
    if (logInput.checked) { q.set("log", "1"); }
    window.history.replaceState(null, "", "/plot?" + q.toString());
    csvLink.href = "/api/history.csv?" + query().toString();
    if (!names.length) { series = []; stateLine.textContent = "Enter a PV name."; draw(); return; }
    stateLine.textContent = "loading\u2026";
    var api = query();
    api.set("buckets", String(Math.max(10, Math.min(5000, canvas.width - 100))));
    fetch("/api/history?" + api.toString()).then(function (reply) {
      if (!reply.ok) { return reply.text().then(function (text) { throw new Error(text); }); }
      return reply.json();
    }).then(function (data) {
      series = data.series;
      var counts = series.map(function (s) { return s.name + ": " + s.t.length + (s.mode === "raw" ? " samples" : " buckets"); });
      stateLine.textContent = counts.join(", ");
      draw();
    }).catch(function (error) { stateLine.textContent = String(error.message || error); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var from = Date.parse(fromInput.value), to = Date.parse(toInput.value);
    if (isFinite(from) && isFinite(to) && to > from) { range.from = from / 1000; range.to = to / 1000; }
    load();
  });
  form.querySelectorAll("[data-span]").forEach(function (button) {
    button.addEventListener("click", function () {
      range.to = Date.now() / 1000; range.from = range.to - Number(button.dataset.span); load();
    });
  });
  logInput.addEventListener("change", load);
  document.querySelectorAll(".add-pv").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var empty = Array.prototype.find.call(form.querySelectorAll("input[name=pv]"), function (el) { return !el.value; });
      if (empty) { empty.value = link.dataset.pv; load(); }
    });
  });
  fetch("/api/pvs").then(function (r) { return r.json(); }).then(function (names) {
    var list = document.getElementById("pv-names");
    names.forEach(function (name) { var o = document.createElement("option"); o.value = name; list.appendChild(o); });
  }).catch(function () { /* the names only help typing */ });
  load();
})();

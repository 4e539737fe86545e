// Live values of a status page (epics.archiver). Written for this package; no library.
// Subscribes to /events?page=NAME (server-sent events): each message is a list of
// {pv, text, severity, connected, units}; each value on the page takes its text and the colour
// of its alarm severity, or shows "disconnected". The browser's EventSource reconnects by itself.
(function () {
  "use strict";
  var root = document.getElementById("status");
  if (!root) { return; }
  var cells = {};
  root.querySelectorAll("[data-pv]").forEach(function (el) {
    (cells[el.dataset.pv] = cells[el.dataset.pv] || []).push(el);
  });
  var streamState = document.getElementById("stream-state");
  var clock = document.getElementById("clock");
  var CLASSES = ["sev0", "sev1", "sev2", "sev3", "disconnected"];

  function apply(v) {
    (cells[v.pv] || []).forEach(function (el) {
      CLASSES.forEach(function (c) { el.classList.remove(c); });
      if (v.connected) {
        el.textContent = v.text + (v.units ? " " + v.units : "");
        el.classList.add("sev" + Math.min(3, Math.max(0, v.severity | 0)));
      } else {
        el.textContent = "disconnected";
        el.classList.add("disconnected");
      }
    });
  }

  var source = new EventSource("/events?page=" + encodeURIComponent(root.dataset.page));
  source.onmessage = function (event) { JSON.parse(event.data).forEach(apply); };
  source.onopen = function () {
    streamState.textContent = "live";
    streamState.className = "stream live";
  };
  source.onerror = function () {
    streamState.textContent = "connection to the server lost: retrying";
    streamState.className = "stream lost";
  };
  function tick() { clock.textContent = new Date().toLocaleString(); }
  tick();
  setInterval(tick, 1000);
})();

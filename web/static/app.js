// crosstrace UI: the only JavaScript. Local times, the `/` search shortcut, select-all, and live queue rows.
(function () {
  "use strict";

  // Times: the server writes UTC (text and title); show the viewer's local time, keep UTC on hover.
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      var pad = function (n) { return String(n).padStart(2, "0"); };
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    });
    // SVG axis labels: "MM-DD HH:MM" in local time; the <title> child keeps UTC for hover.
    root.querySelectorAll("text[data-utc]").forEach(function (el) {
      var d = new Date(el.getAttribute("data-utc"));
      if (isNaN(d)) return;
      var pad = function (n) { return String(n).padStart(2, "0"); };
      var label = el.hasAttribute("data-seconds")
        ? pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds())
        : pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
      el.lastChild.nodeValue = label;
    });
  }
  localize(document);

  // `/` focuses search from anywhere but a text field (as GitHub and Grafana do).
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    var field = t === "INPUT" || t === "TEXTAREA" || t === "SELECT";
    var emptySearch = e.target.id === "search" && e.target.value === "";  // autofocused: no ref starts with "/"
    if (e.key === "/" && (!field || emptySearch) && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      var box = document.getElementById("search");
      box.focus();
      box.select();
    }
  });

  // Select all rows of the queue.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = all.checked; });
    });
  }

  // Live queue: poll the rows fragment and swap it in, unless the user is mid-selection.
  var body = document.querySelector("tbody[data-live]");
  if (body) {
    var every = parseInt(body.getAttribute("data-every"), 10) || 5000;
    var status = document.getElementById("live-status");
    var ended = false;
    var poll = function () {
      if (document.querySelector("input[name=ids]:checked")) { setTimeout(poll, every); return; }
      if (ended) return;
      fetch(body.getAttribute("data-live"), { headers: { "accept": "text/html" } })
        .then(function (r) {
          ended = r.status === 401;  // logged out or expired: stop polling and say how to get back
          if (!r.ok) throw new Error(r.status);
          return r.text().then(function (html) { return [html, r.headers.get("x-total-count")]; });
        })
        .then(function (res) {
          if (res[0] !== body.getAttribute("data-html")) {
            body.innerHTML = res[0];
            body.setAttribute("data-html", res[0]);
            localize(body);
          }
          var total = document.getElementById("total-count");
          if (total && res[1] !== null) total.textContent = res[1];
          if (status) status.textContent = "live · updated " + new Date().toLocaleTimeString();
        })
        .catch(function () {
          if (status) status.textContent = ended ? "session ended: reload the page to log in again"
            : "live updates paused (server unreachable); retrying";
        })
        .then(function () { if (!ended) setTimeout(poll, every); });
    };
    body.setAttribute("data-html", body.innerHTML);
    setTimeout(poll, every);
  }
})();

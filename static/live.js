// Live quorum: reload the quorum panel every 15 seconds (server-rendered HTML, no build step).
(function () {
  "use strict";
  var panel = document.getElementById("quorum");
  if (!panel || !panel.dataset.url) { return; }
  function refresh() {
    fetch(panel.dataset.url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { panel.innerHTML = html; } })
      .catch(function () { /* keep the last state; the next poll tries again */ });
  }
  window.setInterval(refresh, 15000);
})();

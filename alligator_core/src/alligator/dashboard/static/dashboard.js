// Alligator dashboard: refreshes the parts of a page marked data-refresh="URL"
// by fetching that URL's HTML fragment every few seconds. No inline script
// (the Content-Security-Policy forbids it), no build step, no library.
"use strict";
(function () {
  var PERIOD_MS = 3000;
  function refresh(element) {
    if (document.hidden) { return; }
    fetch(element.getAttribute("data-refresh"), {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        // The fragment comes from this server, escaped by its templates.
        element.innerHTML = html;
        element.removeAttribute("data-stale");
      })
      .catch(function () { element.setAttribute("data-stale", "true"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(function (element) {
      setInterval(function () { refresh(element); }, PERIOD_MS);
    });
  });
})();

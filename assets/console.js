// bridgekeeper web console: refreshes each conference's live roster every second by
// fetching the server-rendered part (/console/state) and swapping it in. The page works
// without this script; forms post and redirect back.
(function () {
  "use strict";
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch("/console/state", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("[data-live]").forEach(function (fresh) {
          var key = fresh.getAttribute("data-live");
          document.querySelectorAll("[data-live]").forEach(function (old) {
            if (old.getAttribute("data-live") !== key) return;
            // Never swap the part a keyboard user is in.
            if (old.contains(document.activeElement)) return;
            if (old.innerHTML !== fresh.innerHTML) old.innerHTML = fresh.innerHTML;
          });
        });
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(refresh, 1000);
})();

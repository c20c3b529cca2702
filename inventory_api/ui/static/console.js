// APICensus console: progressive enhancement only (every page works without JavaScript).
// Search as you type on the catalog: the filter form's results part is fetched and replaced.
(function () {
  "use strict";
  function live(form) {
    var url = form.getAttribute("data-live");
    var target = document.getElementById(form.getAttribute("data-target"));
    if (!url || !target) return;
    var timer = null, seq = 0;
    function refresh() {
      var params = new URLSearchParams(new FormData(form));
      var mine = ++seq;
      fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { "X-Console-Partial": "1" } })
        .then(function (r) { return r.text().then(function (t) { return { ok: r.ok || r.status === 422, text: t }; }); })
        .then(function (res) {
          if (mine !== seq || !res.ok) return;
          target.innerHTML = res.text;
          history.replaceState(null, "", form.getAttribute("action") + "?" + params.toString());
        })
        .catch(function () {});
    }
    function later() { clearTimeout(timer); timer = setTimeout(refresh, 200); }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-live]").forEach(live);
  });
})();

// Import page: polls the import's progress and reloads the page when it is over, so that the
// summary and the report appear. No inline script is allowed (see web/security.py).
(function () {
  "use strict";

  var POLL_MS = 1000;
  var box = document.getElementById("import-progress");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");

  function describe(state) {
    if (state.status === "queued") { return text.dataset.queued; }
    if (state.stage === "checking") {
      return text.dataset.checking.replace("{done}", state.done.toLocaleString()).replace("{total}", state.total.toLocaleString());
    }
    if (state.stage === "report") { return text.dataset.report; }
    return text.dataset.reading;
  }

  function poll() {
    fetch(box.dataset.progressUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (state) {
        if (state.status !== "queued" && state.status !== "running") {
          window.location.reload();
          return;
        }
        bar.max = state.total || 1;
        bar.value = state.stage === "checking" ? state.done : 0;
        text.textContent = describe(state);
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () { text.textContent = text.dataset.lost; });
  }

  window.setTimeout(poll, POLL_MS);
}());

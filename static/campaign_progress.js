// Campaign page: polls the campaign's progress while it sends (or is paused) and updates the bar, the
// figures and the failures in place; reloads the page when the campaign's status changes, so that its
// buttons and history follow. The server words every figure (campaigns.dispatch.progress.worded), so
// this file holds no text of its own. No inline script is allowed (see web/security.py).
(function () {
  "use strict";

  var POLL_MS = 2000;
  var box = document.getElementById("progress");
  if (!box || !box.dataset.progressUrl) { return; }
  var bar = box.querySelector("progress");
  var failures = box.querySelector("[data-failures]");
  var none = box.querySelector("[data-failures-none]");
  var lost = box.querySelector("[data-progress-lost]");

  function show(state) {
    bar.max = state.total || 1;
    bar.value = state.done;
    box.querySelectorAll("[data-text]").forEach(function (cell) {
      cell.textContent = state.text[cell.dataset.text];
    });
    box.querySelectorAll("[data-count]").forEach(function (cell) {
      cell.textContent = state.text.counts[cell.dataset.count];
    });
    failures.replaceChildren.apply(failures, state.text.failures.map(function (item) {
      var line = document.createElement("li");
      line.textContent = item.sentence + " — " + item.count;
      return line;
    }));
    none.hidden = state.text.failures.length > 0;
  }

  function poll() {
    fetch(box.dataset.progressUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (state) {
        if (state.status !== box.dataset.status) {
          window.location.reload();
          return;
        }
        show(state);
        lost.hidden = true;
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        lost.hidden = false;
        window.setTimeout(poll, POLL_MS * 5);  // a restart or a network hiccup: keep trying, less often
      });
  }

  window.setTimeout(poll, POLL_MS);
}());

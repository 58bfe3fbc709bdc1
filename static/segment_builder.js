// Segment pages: the builder's live count and sample, and the lazy counts of the segment list.
// No inline script is allowed (see web/security.py), so the pages load this file; everything it
// shows is set with textContent, never parsed as HTML.
(function () {
  "use strict";

  var DELAY_MS = 400;

  function showSample(body, contacts) {
    body.replaceChildren();
    contacts.forEach(function (contact) {
      var row = document.createElement("tr");
      [contact.phone, contact.name, contact.city, contact.timezone].forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = value || "";
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
  }

  function setUpBuilder(form) {
    var count = document.getElementById("segment-count");
    var sample = document.getElementById("segment-sample");
    var errors = document.getElementById("segment-errors");
    window.Vestnik.livePreview(form, errors, DELAY_MS, function (body) {
      count.textContent = body.count.toLocaleString();
      showSample(sample, body.sample);
    }, function () {
      count.textContent = "—";
      showSample(sample, []);
    });
  }

  function loadCount(link) {
    fetch(link.dataset.countUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body && typeof body.count === "number") { link.textContent = body.count.toLocaleString(); }
      })
      .catch(function () { /* the link still opens the segment, which shows its count */ });
  }

  var form = document.getElementById("segment-form");
  if (form && form.dataset.previewUrl) { setUpBuilder(form); }
  document.querySelectorAll("[data-count-url]").forEach(loadCount);
})();

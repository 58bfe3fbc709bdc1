// Segment pages: the builder's live count and sample, and the lazy counts of the segment list.
// No inline script is allowed (see web/security.py), so the pages load this file; everything it
// shows is set with textContent, never parsed as HTML.
(function () {
  "use strict";

  var DELAY_MS = 400;

  function postForm(form) {
    return fetch(form.dataset.previewUrl, {
      method: "POST",
      body: new FormData(form),  // includes the CSRF token of the form
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    });
  }

  function showErrors(box, sentences) {
    box.replaceChildren();
    sentences.forEach(function (sentence) {
      var line = document.createElement("p");
      line.className = "error";
      line.textContent = sentence;
      box.appendChild(line);
    });
  }

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
    var timer = null;
    var latest = 0;

    function refresh() {
      var asked = ++latest;
      postForm(form).then(function (result) {
        if (asked !== latest) { return; }  // an older answer arriving late must not win
        if (result.ok) {
          showErrors(errors, []);
          count.textContent = result.body.count.toLocaleString();
          showSample(sample, result.body.sample);
        } else {
          showErrors(errors, result.body.errors || [result.body.message || ""]);
          count.textContent = "—";
          showSample(sample, []);
        }
      }).catch(function () { /* offline or signed out: the Preview button still works */ });
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, DELAY_MS);
    }

    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
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

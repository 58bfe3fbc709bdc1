// The plumbing of live previews (segment builder, template editor): as the user types, the form is
// posted to its data-preview-url (with its CSRF token) after a short pause, and the JSON answer is
// handed to the page; an older answer arriving late never overwrites a newer one. Sentences of a
// refused form are shown as text, never parsed as HTML.
(function () {
  "use strict";

  function showErrors(box, sentences) {
    box.replaceChildren();
    sentences.forEach(function (sentence) {
      var line = document.createElement("p");
      line.className = "error";
      line.textContent = sentence;
      box.appendChild(line);
    });
  }

  // onAnswer(body) draws a good answer; onRefused() clears what a refused form would leave stale.
  function livePreview(form, errors, delayMs, onAnswer, onRefused) {
    var timer = null;
    var latest = 0;

    function refresh() {
      var asked = ++latest;
      fetch(form.dataset.previewUrl, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (asked !== latest) { return; }
        if (result.ok) {
          showErrors(errors, []);
          onAnswer(result.body);
        } else {
          showErrors(errors, result.body.errors || [result.body.error || result.body.message || ""]);
          if (onRefused) { onRefused(); }
        }
      }).catch(function () { /* offline or signed out: the Preview button still works */ });
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, delayMs);
    }

    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
    return refresh;
  }

  window.Vestnik = window.Vestnik || {};
  window.Vestnik.livePreview = livePreview;
  window.Vestnik.showErrors = showErrors;
})();

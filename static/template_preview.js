// Template editor: the live preview. As the user types, the form is posted to the preview endpoint
// and the WhatsApp-like bubble, the compliance verdicts, the rule violations, the warnings and the SMS segment
// line ("UCS-2 · 2 parts · 14 characters left", worded by the server) are redrawn from its JSON. No inline
// script is allowed (see web/security.py); everything shown is set with textContent, never parsed as HTML.
// Without JavaScript the "Preview" button does the same.
(function () {
  "use strict";

  var DELAY_MS = 350;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function showText(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function showBody(node, pieces) {
    node.replaceChildren();
    pieces.forEach(function (piece) {
      node.appendChild(piece.mark ? element("mark", piece.mark, piece.text) : document.createTextNode(piece.text));
    });
  }

  function showList(node, items, build) {
    node.replaceChildren();
    items.forEach(function (item) { node.appendChild(build(item)); });
  }

  // One example field per variable of the text as it stands, in the variables' order; typed values
  // are kept, and a row already in place is not moved (moving it would take the cursor away).
  function syncExamples(fieldset, names) {
    var prefix = fieldset.dataset.prefix;
    var existing = {};
    fieldset.querySelectorAll(".example-field").forEach(function (row) {
      if (names.indexOf(row.dataset.variable) === -1) { row.remove(); } else { existing[row.dataset.variable] = row; }
    });
    names.forEach(function (name, index) {
      var row = existing[name];
      if (!row) {
        row = element("div", "field example-field");
        row.dataset.variable = name;
        var label = element("label", "", fieldset.dataset.label.replace("{{NAME}}", "{{" + name + "}}"));
        label.htmlFor = prefix + name;
        var input = element("input");
        input.type = "text";
        input.id = prefix + name;
        input.name = prefix + name;
        input.maxLength = 300;
        row.appendChild(label);
        row.appendChild(input);
      }
      var here = fieldset.querySelectorAll(".example-field")[index];
      if (here !== row) { fieldset.insertBefore(row, here || null); }
    });
  }

  // The opt-out quick reply follows the template's language: when the language changes, a label
  // that is still one of the suggestions (not typed by the user) becomes the new language's one.
  function followLanguage(form) {
    var suggestions = JSON.parse(form.dataset.optOutSuggestions || "{}");
    var language = form.elements.namedItem("language");
    if (!language) { return; }
    var offered = {};
    Object.keys(suggestions).forEach(function (code) { offered[suggestions[code]] = true; });
    language.addEventListener("change", function () {
      var wanted = suggestions[language.value];
      if (!wanted) { return; }
      form.querySelectorAll(".button-row").forEach(function (row) {
        var kind = row.querySelector("select[name$='-type']");
        var text = row.querySelector("input[name$='-text']");
        if (kind && text && kind.value === "quick_reply" && offered[text.value.trim()]) { text.value = wanted; }
      });
    });
  }

  function setUp(form) {
    var ids = ["tpl-header", "tpl-body", "tpl-footer", "tpl-buttons", "tpl-length", "tpl-verdicts", "tpl-spam", "tpl-violations"];
    var parts = {};
    ids.forEach(function (id) { parts[id] = document.getElementById(id); });
    var warnings = document.getElementById("tpl-warnings");
    var errors = document.getElementById("template-errors");
    var examples = document.getElementById("template-examples");
    var outcomeLabels = JSON.parse(form.dataset.outcomeLabels || "{}");
    function draw(body) {
      var preview = body.preview;
      showText(parts["tpl-header"], preview.header);
      showBody(parts["tpl-body"], preview.pieces);
      showText(parts["tpl-footer"], preview.footer);
      showList(parts["tpl-buttons"], preview.buttons, function (button) {
        return element("li", "wa-button wa-" + (button.type || ""), button.text || "");
      });
      parts["tpl-length"].textContent = String(preview.length);
      var smsLine = document.getElementById("tpl-sms-segments");
      if (smsLine && body.sms) { smsLine.textContent = body.sms.line; }
      showList(parts["tpl-verdicts"], preview.verdicts, function (verdict) {
        var item = element("li", "outcome-" + verdict.outcome);
        item.appendChild(element("strong", "", outcomeLabels[verdict.outcome] || verdict.outcome));
        item.appendChild(document.createTextNode(" " + verdict.reason));
        return item;
      });
      showList(parts["tpl-spam"], preview.spam.signals, function (signal) {
        return element("li", "", "+" + (Math.round(signal.weight * 10) / 10) + " — " + signal.explanation);
      });
      var violations = parts["tpl-violations"];
      if (body.violations.length) {
        showList(violations, body.violations, function (sentence) { return element("li", "error", sentence); });
      } else {
        showList(violations, [violations.dataset.none], function (sentence) { return element("li", "ok", sentence); });
      }
      showList(warnings, body.warnings || [], function (sentence) { return element("li", "warning", sentence); });
      warnings.hidden = !(body.warnings || []).length;
      if (examples) { syncExamples(examples, preview.variables); }
    }

    followLanguage(form);

    window.Vestnik.livePreview(form, errors, DELAY_MS, draw);
  }

  var form = document.getElementById("template-form");
  if (form && form.dataset.previewUrl) { setUp(form); }
})();

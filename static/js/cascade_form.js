// The campaign wizard: show the cascade's steps only while "a cascade" is chosen. Without this script both are
// shown and the server reads the chosen mode, so the form works the same without JavaScript.
(function () {
  "use strict";
  var steps = document.getElementById("cascade");
  var modes = document.querySelectorAll('input[name="mode"]');
  if (!steps || !modes.length) {
    return;
  }
  function show() {
    var chosen = document.querySelector('input[name="mode"]:checked');
    steps.hidden = !chosen || chosen.value !== "cascade";
  }
  for (var i = 0; i < modes.length; i += 1) {
    modes[i].addEventListener("change", show);
  }
  show();
})();

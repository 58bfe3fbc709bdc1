// Charts of the campaign page and the home page, drawn by uPlot (static/vendor/uplot) from data the server
// put in a <script type="application/json"> block: every element with data-chart="<id of the block>" gets a
// chart. The CSP allows no inline script (web/security.py), and a JSON block is data, never run. The server
// words every label (campaigns/analytics_views.py), so this file holds no text of its own; the same figures
// are on the page as a table.
//
// The block: {"kind": "count" | "rate", "x": [epoch seconds…], "series": [{"key", "label", "values": […]}]}.
(function () {
  "use strict";

  var COLOURS = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#dc2626"];
  var HEIGHT = 240;
  var language = document.documentElement.lang || undefined;

  function formatter(kind) {
    var style = kind === "rate" ? { style: "percent", maximumFractionDigits: 1 } : { maximumFractionDigits: 0 };
    var format = new Intl.NumberFormat(language, style);
    return function (value) { return value == null ? "—" : format.format(value); };
  }

  function draw(box) {
    var source = document.getElementById(box.dataset.chart);
    if (!source || typeof uPlot === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    if (!data.x.length) { return; }
    var value = formatter(data.kind);
    var options = {
      width: Math.max(box.clientWidth, 320),
      height: HEIGHT,
      // The tables beside the charts are in UTC; so are the charts' times.
      tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); },
      scales: { x: { time: true }, y: { range: data.kind === "rate" ? [0, 1] : function (u, min, max) { return [0, Math.max(max, 1)]; } } },
      axes: [{}, { values: function (u, ticks) { return ticks.map(value); }, size: 60 }],
      series: [{}].concat(data.series.map(function (line, index) {
        return {
          label: line.label,
          stroke: COLOURS[index % COLOURS.length],
          width: 2,
          points: { show: data.x.length < 60 },
          value: function (u, v) { return value(v); }
        };
      }))
    };
    var chart = new uPlot(options, [data.x].concat(data.series.map(function (line) { return line.values; })), box);
    window.addEventListener("resize", function () {
      chart.setSize({ width: Math.max(box.clientWidth, 320), height: HEIGHT });
    });
  }

  document.querySelectorAll("[data-chart]").forEach(draw);
}());

// The history chart: uPlot over the figures the page carries in data attributes (no inline
// script, no second request). The same figures are in the table below the chart.
(function () {
  "use strict";

  // Months are evenly spaced points (their index), labelled in the page's language.
  function monthLabel(month, format) {
    var parts = month.split("-");
    return format.format(new Date(Date.UTC(Number(parts[0]), Number(parts[1]) - 1, 1)));
  }

  function draw(box) {
    var months = JSON.parse(box.dataset.months);
    var scores = JSON.parse(box.dataset.scores);
    var language = document.documentElement.lang || "en";
    var format = new Intl.DateTimeFormat(language, { year: "numeric", month: "short", timeZone: "UTC" });
    var labels = months.map(function (m) { return monthLabel(m, format); });
    var width = function () { return Math.max(box.clientWidth, 200); };
    // One label per 90 px at most, so that they never overlap.
    var ticks = function () {
      var step = Math.max(1, Math.ceil(months.length / Math.max(1, Math.floor(width() / 90))));
      var shown = [];
      for (var i = months.length - 1; i >= 0; i -= step) { shown.unshift(i); }
      return shown;
    };
    var options = {
      width: width(),
      height: 240,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false, range: [-0.5, Math.max(months.length - 0.5, 0.5)] },
        y: { range: [Number(box.dataset.min), Number(box.dataset.max)] }
      },
      axes: [
        { splits: ticks, values: function (u, splits) { return splits.map(function (i) { return labels[i] || ""; }); } },
        { size: 48 }
      ],
      series: [
        {},
        { label: box.dataset.label, stroke: "#0b57d0", width: 2, points: { show: true, size: 7 }, spanGaps: false }
      ]
    };
    var plot = new uPlot(options, [months.map(function (m, i) { return i; }), scores], box);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize({ width: width(), height: 240 }); }).observe(box);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("history-chart");
    if (box && window.uPlot) { draw(box); }
  });
})();

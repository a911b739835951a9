// The history chart: uPlot over the figures the page carries in data attributes (no inline
// script, no second request). The same figures are in the table below the chart.
(function () {
  "use strict";

  function monthStart(month) {
    var parts = month.split("-");
    return Date.UTC(Number(parts[0]), Number(parts[1]) - 1, 1) / 1000;
  }

  function draw(box) {
    var months = JSON.parse(box.dataset.months);
    var scores = JSON.parse(box.dataset.scores);
    var language = document.documentElement.lang || "en";
    var monthName = new Intl.DateTimeFormat(language, { year: "numeric", month: "short", timeZone: "UTC" });
    var width = function () { return Math.max(box.clientWidth, 200); };
    var options = {
      width: width(),
      height: 240,
      legend: { show: false },
      cursor: { show: true, drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: [Number(box.dataset.min), Number(box.dataset.max)] }
      },
      axes: [
        { values: function (u, ticks) { return ticks.map(function (t) { return monthName.format(new Date(t * 1000)); }); } },
        { size: 48 }
      ],
      series: [
        {},
        { label: box.dataset.label, stroke: "#0b57d0", width: 2, points: { show: true, size: 6 }, spanGaps: false }
      ]
    };
    var plot = new uPlot(options, [months.map(monthStart), scores], box);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize({ width: width(), height: 240 }); }).observe(box);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("history-chart");
    if (box && window.uPlot) { draw(box); }
  });
})();

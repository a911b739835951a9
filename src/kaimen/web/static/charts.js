// Charts from the figures a page carries in data-chart attributes (web/charts.py), drawn with
// uPlot: lines, or bars side by side. No inline script, no second request; each chart has a
// table of the same figures beside it.
(function () {
  "use strict";

  var HEIGHT = 260;

  function percent(value) { return Math.round(value * 1000) / 10 + "%"; }

  function draw(box) {
    var spec = JSON.parse(box.dataset.chart);
    var width = function () { return Math.max(box.clientWidth, 200); };
    var bars = spec.kind === "bars";
    var many = spec.series.length;
    var series = [{}];
    spec.series.forEach(function (s, i) {
      var one = { label: s.label, stroke: s.colour, width: 2, spanGaps: false };
      if (bars) {
        one.fill = s.colour;
        // Two series stand side by side on each x; one fills the slot.
        one.paths = uPlot.paths.bars({ size: [many > 1 ? 0.4 : 0.8, 80], align: many > 1 ? (i === 0 ? -1 : 1) : 0 });
        one.points = { show: false };
      } else {
        one.points = { show: spec.x.length <= 40, size: 6 };
        if (s.dashed) { one.dash = [6, 4]; one.points = { show: false }; }
      }
      series.push(one);
    });
    var xAxis = { label: spec.x_label, labelSize: 24 };
    var xScale = { time: false };
    if (spec.ticks) {
      var ticks = spec.ticks;
      xScale.range = [-0.6, ticks.length - 0.4];
      // One label per 70 px at most, so that they never overlap.
      xAxis.splits = function () {
        var step = Math.max(1, Math.ceil(ticks.length / Math.max(1, Math.floor(width() / 70))));
        var shown = [];
        for (var i = 0; i < ticks.length; i += step) { shown.push(i); }
        return shown;
      };
      xAxis.values = function (u, splits) { return splits.map(function (i) { return ticks[i] || ""; }); };
    } else if (spec.x_range) {
      xScale.range = spec.x_range;
    }
    if (spec.x_percent) {
      xAxis.values = function (u, splits) { return splits.map(percent); };
    }
    var yAxis = { label: spec.y_label, labelSize: 24, size: 56 };
    if (spec.percent) { yAxis.values = function (u, splits) { return splits.map(percent); }; }
    var yScale = {};
    if (spec.y_range) { yScale.range = spec.y_range; }
    var options = {
      width: width(),
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: xScale, y: yScale },
      axes: [xAxis, yAxis],
      series: series
    };
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    var plot = new uPlot(options, data, box);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize({ width: width(), height: HEIGHT }); }).observe(box);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.uPlot) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
  });
})();

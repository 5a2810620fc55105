/* The weekly activity chart of the touchpoints card: a stacked bar per kind, drawn with
 * ECharts from the JSON the server embeds (json_script). Runs on page load and on every
 * HTMX swap; charts about to be swapped out are disposed first. */
(function () {
  "use strict";

  var SELECTOR = "[data-activity-chart]";

  function chartsIn(root) {
    if (!root || !root.querySelectorAll) return [];
    var found = Array.prototype.slice.call(root.querySelectorAll(SELECTOR));
    if (root.matches && root.matches(SELECTOR)) found.push(root);
    return found;
  }

  function draw(el) {
    if (typeof window.echarts === "undefined") return;
    var source = document.getElementById(el.getAttribute("data-activity-chart"));
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el);
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 12, bottom: 36, containLabel: true },
      xAxis: { type: "category", data: data.weeks, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", minInterval: 1 },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "total", data: s.data,
                 itemStyle: { color: s.color }, emphasis: { focus: "series" } };
      })
    }, true);
  }

  function drawAll(root) { chartsIn(root).forEach(draw); }

  function dispose(root) {
    if (typeof window.echarts === "undefined") return;
    chartsIn(root).forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) chart.dispose();
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (event) { drawAll(event.detail.elt); });
  document.addEventListener("htmx:beforeSwap", function (event) { dispose(event.detail.target); });
  window.addEventListener("resize", function () {
    if (typeof window.echarts === "undefined") return;
    chartsIn(document).forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  });
})();

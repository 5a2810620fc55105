/* The waterfall chart of a score's contributions (scoring/_score_card.html), drawn with
 * ECharts from the JSON the server embeds (json_script): each contribution is a bar that
 * floats from the running sum, the last bar is the total. The fragment arrives by HTMX, so
 * this script loads ECharts itself if the page has not, draws what is there, and draws again
 * on every HTMX swap. */
(function () {
  "use strict";

  var SELECTOR = "[data-score-chart]";
  if (window.mlScoreChart) { window.mlScoreChart.drawAll(document); return; }

  function chartsIn(root) {
    if (!root || !root.querySelectorAll) return [];
    var found = Array.prototype.slice.call(root.querySelectorAll(SELECTOR));
    if (root.matches && root.matches(SELECTOR)) found.push(root);
    return found;
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-score-chart"));
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el);
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
        formatter: function (items) {
          var i = items[0].dataIndex;
          return data.labels[i] + ": " + data.signed[i];
        }
      },
      xAxis: { type: "value" },
      yAxis: { type: "category", inverse: true, data: data.labels,
               axisLabel: { interval: 0, width: 160, overflow: "truncate" } },
      series: [
        { type: "bar", stack: "w", silent: true, data: data.base,
          itemStyle: { color: "transparent" } },
        { type: "bar", stack: "w", data: data.bars.map(function (v, i) {
            return { value: v, itemStyle: { color: data.colours[i] } };
          }),
          label: { show: true, position: "right", formatter: function (p) {
            return data.signed[p.dataIndex];
          } } }
      ]
    }, true);
  }

  function drawAll(root) {
    if (typeof window.echarts === "undefined") return;
    chartsIn(root).forEach(draw);
  }

  window.mlScoreChart = { drawAll: drawAll };
  var me = document.currentScript;
  function start() {
    drawAll(document);
    document.addEventListener("htmx:load", function (event) { drawAll(event.detail.elt); });
    window.addEventListener("resize", function () {
      chartsIn(document).forEach(function (el) {
        var chart = window.echarts.getInstanceByDom(el);
        if (chart) chart.resize();
      });
    });
  }
  if (typeof window.echarts !== "undefined") {
    start();
  } else {
    var lib = document.createElement("script");
    lib.src = me.getAttribute("data-echarts");
    lib.onload = start;
    document.head.appendChild(lib);
  }
})();

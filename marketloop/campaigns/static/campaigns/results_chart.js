/* An activity's results per month (campaigns/activity_results.html): credited conversions per
 * stage as bars, won revenue as a line on its own axis. The chart loader (js/charts.js) draws
 * it, again when the model switcher swaps the card. */
(function () {
  "use strict";

  window.mlCharts.register("data-activity-results-chart", function (chart, data) {
    chart.setOption({
      color: ["#1f5fbf", "#2fb3a4", "#f59f00", "#2fb344", "#d63939"],
      tooltip: { trigger: "axis", confine: true },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 16, bottom: 36, containLabel: true },
      xAxis: { type: "category", data: data.months },
      yAxis: [{ type: "value" }, { type: "value", splitLine: { show: false } }],
      series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
        .concat([{ name: data.revenue.name, type: "line", yAxisIndex: 1, data: data.revenue.data }])
    }, true);
  });
})();

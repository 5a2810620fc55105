/* A plan's budget burn by activity (campaigns/plan_detail.html): budget line, approved and
 * spent side by side per activity. The chart loader (js/charts.js) draws it. */
(function () {
  "use strict";

  window.mlCharts.register("data-burn-chart", function (chart, data) {
    chart.setOption({
      color: ["#c8d3e6", "#2fb3a4", "#1f5fbf"],
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
                 formatter: function (items) {
                   var i = items.length ? items[0].dataIndex : 0;
                   return [data.names[i]].concat(items.map(function (item) {
                     return item.marker + item.seriesName + ": " + item.value.toLocaleString();
                   })).join("<br>");
                 } },
      legend: { bottom: 0 },
      grid: { left: 8, right: 16, top: 12, bottom: 36, containLabel: true },
      xAxis: { type: "category", data: data.activities, axisLabel: { interval: 0, rotate: data.activities.length > 4 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
    });
  });
})();

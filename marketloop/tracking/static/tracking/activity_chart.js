/* The weekly activity chart of the touchpoints card: a stacked bar per kind. The chart loader
 * (js/charts.js) draws it. */
(function () {
  "use strict";

  window.mlCharts.register("data-activity-chart", function (chart, data) {
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
  });
})();

/* Grouped bars of one journey's credit (campaigns/_journey.html): for the top activities, the
 * share each attribution model gives them, so the models can be compared at a glance. The
 * chart loader (js/charts.js) draws it. */
(function () {
  "use strict";

  window.mlCharts.register("data-journey-chart", function (chart, data) {
    chart.setOption({
      animation: false,
      legend: { type: "scroll", top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
                 valueFormatter: function (v) { return v + "%"; } },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.activities,
               axisLabel: { interval: 0, width: 110, overflow: "truncate" } },
      yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", data: s.data };
      })
    }, true);
  });
})();

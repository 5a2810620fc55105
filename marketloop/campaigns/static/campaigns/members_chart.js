/* Members per status of an activity (campaigns/members_slot.html): a bar per status. The chart
 * loader (js/charts.js) draws it. */
(function () {
  "use strict";

  window.mlCharts.register("data-member-chart", function (chart, data) {
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: data.labels },
      series: [{ type: "bar", data: data.values.map(function (v, i) {
        return { value: v, itemStyle: { color: data.colours[i] } };
      }), label: { show: true, position: "right" } }]
    }, true);
  });
})();

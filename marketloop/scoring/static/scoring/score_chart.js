/* The waterfall chart of a score's contributions (scoring/_score_card.html): each contribution
 * is a bar that floats from the running sum, the last bar is the total. The chart loader
 * (js/charts.js) draws it. */
(function () {
  "use strict";

  window.mlCharts.register("data-score-chart", function (chart, data) {
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
  });
})();

/* The funnel page's charts (leads/funnel_results.html, leads/funnel_trend.html): the funnel,
 * the monthly trend and the leakage by reason. data-funnel-chart names the kind, data-source
 * the JSON. The chart loader (js/charts.js) draws them, again after every HTMX swap. A click
 * on a point opens the list of its leads. */
(function () {
  "use strict";

  var COLORS = ["#1f5fbf", "#2fb3a4", "#f59f00", "#ae3ec9", "#2fb344"];

  function options(kind, data) {
    if (kind === "funnel") {
      return {
        color: COLORS,
        tooltip: { trigger: "item", formatter: "{b}: {c}" },
        series: [{ type: "funnel", sort: "none", gap: 2, minSize: "8%", left: "10%", width: "80%",
                   min: 0, max: Math.max.apply(null, data.map(function (d) { return d.value; }).concat([1])),
                   label: { show: true, position: "inside", formatter: "{b}: {c}" },
                   data: data }]
      };
    }
    if (kind === "trend") {
      return {
        color: COLORS,
        tooltip: { trigger: "axis", confine: true },
        legend: { type: "scroll", bottom: 0 },
        grid: { left: 8, right: 32, top: 12, bottom: 36, containLabel: true },
        xAxis: { type: "category", data: data.months, boundaryGap: false },
        yAxis: { type: "value", minInterval: 1 },
        series: data.series.map(function (s) {
          return { name: s.name, type: "line", data: s.data, symbolSize: 6 };
        })
      };
    }
    return {  // leakage: recycled and disqualified by reason
      color: ["#f59f00", "#d63939"],
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      legend: { bottom: 0 },
      grid: { left: 8, right: 16, top: 12, bottom: 36, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: data.reasons, inverse: true },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "leak", data: s.data };
      })
    };
  }

  window.mlCharts.register("data-funnel-chart", function (chart, data, el) {
    chart.setOption(options(el.getAttribute("data-funnel-chart"), data), true);
    chart.off("click");
    chart.on("click", function (params) {
      if (params.data && params.data.url) window.location.assign(params.data.url);
    });
  });
})();

/* The campaign dashboard's charts (campaigns/dashboard_results.html): ROI, cost, budget burn,
 * the sankey of touches to stages and the comparison of models. data-campaign-chart names the
 * kind, data-source the JSON. The chart loader (js/charts.js) draws them, again after every
 * HTMX swap (a model switch, a filter). */
(function () {
  "use strict";

  var COLORS = ["#1f5fbf", "#2fb3a4", "#f59f00", "#ae3ec9", "#2fb344", "#d63939", "#4263eb"];

  function money(value) {
    return value === null || value === undefined ? "—" : "¥" + Number(value).toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  function bars(categories, series, formatter) {
    return {
      color: COLORS,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true, valueFormatter: formatter },
      legend: series.length > 1 ? { type: "scroll", bottom: 0 } : undefined,
      grid: { left: 8, right: 16, top: 16, bottom: series.length > 1 ? 40 : 8, containLabel: true },
      xAxis: { type: "category", data: categories, axisLabel: { interval: 0, rotate: categories.length > 5 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
    };
  }

  function options(kind, data) {
    if (kind === "roi") {
      return bars(data.labels, [{ name: "ROI", data: data.values }], function (v) {
        return v === null || v === undefined ? "—" : Number(v).toFixed(2) + "×";
      });
    }
    if (kind === "cost") return bars(data.labels, data.series, money);
    if (kind === "burn") return bars(data.labels, data.series, money);
    if (kind === "sankey") {
      return {
        color: COLORS,
        tooltip: { trigger: "item", confine: true },
        series: [{ type: "sankey", data: data.nodes, links: data.links, nodeAlign: "left",
                   emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", curveness: 0.5 },
                   label: { fontSize: 12 } }]
      };
    }
    // comparison: won revenue per activity (rows) under each model (series)
    return {
      color: COLORS,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true, valueFormatter: money },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 24, top: 8, bottom: 40, containLabel: true },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: data.activities, inverse: true,
               axisLabel: { width: 180, overflow: "truncate" } },
      series: data.series.map(function (s) {
        var chosen = s.name === data.chosen;
        return { name: s.name, type: "bar", data: s.data,
                 itemStyle: chosen ? { borderColor: "#182433", borderWidth: 1 } : undefined };
      })
    };
  }

  window.mlCharts.register("data-campaign-chart", function (chart, data, el) {
    chart.setOption(options(el.getAttribute("data-campaign-chart"), data), true);
  });
})();

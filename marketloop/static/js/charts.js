/* The chart loader: one bootstrap for every ECharts chart in marketloop.
 *
 * A chart is an element whose data attribute names the json_script element holding its data
 * (data-journey-chart="journey-chart-12"). Where the attribute names a kind of chart instead
 * (data-campaign-chart="roi"), data-source names the json_script element. A chart module
 * registers the function that sets the options for its attribute:
 *
 *   window.mlCharts.register("data-journey-chart", function (chart, data, el) {
 *     chart.setOption({ ... }, true);
 *   });
 *
 * The loader loads ECharts once (from the data-echarts attribute of this script's tag, or of
 * any script[data-echarts]), draws every registered chart on page load, under every htmx:load
 * and at registration, disposes the charts HTMX removes and resizes them with the window.
 * Fragments that arrive by HTMX bring this script again: the second copy does nothing. */
(function () {
  "use strict";

  if (window.mlCharts) return;

  var draws = {};  // data attribute -> draw(chart, data, el)
  var echartsUrl = urlOf(document.currentScript);
  var loading = false;

  function urlOf(script) { return script ? script.getAttribute("data-echarts") : null; }

  function ready() { return typeof window.echarts !== "undefined"; }

  function loadECharts() {
    if (ready() || loading) return;
    var url = echartsUrl || urlOf(document.querySelector("script[data-echarts]"));
    if (!url) return;
    loading = true;
    var lib = document.createElement("script");
    lib.src = url;
    lib.onload = function () { drawIn(document); };
    document.head.appendChild(lib);
  }

  function chartsIn(root, attribute) {
    if (!root || !root.querySelectorAll) return [];
    var selector = "[" + attribute + "]";
    var found = Array.prototype.slice.call(root.querySelectorAll(selector));
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  // A box of no size (the page being left, a hidden card) has no geometry to lay a chart out
  // in (the sankey's view transform cannot be inverted): it waits for a resize that gives it one.
  function sized(el) { return el.clientWidth > 0 && el.clientHeight > 0; }

  function draw(attribute, el) {
    if (!ready() || !sized(el)) return;
    var source = document.getElementById(el.getAttribute("data-source") || el.getAttribute(attribute));
    if (!source) return;
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el);
    draws[attribute](chart, JSON.parse(source.textContent), el);
  }

  function drawIn(root) {
    Object.keys(draws).forEach(function (attribute) {
      chartsIn(root, attribute).forEach(function (el) { draw(attribute, el); });
    });
  }

  function register(attribute, drawChart) {
    draws[attribute] = drawChart;
    if (ready()) {
      chartsIn(document, attribute).forEach(function (el) { draw(attribute, el); });
    } else {
      loadECharts();
    }
  }

  function isChart(node) {
    return node.nodeType === Node.ELEMENT_NODE &&
      Object.keys(draws).some(function (attribute) { return node.hasAttribute(attribute); });
  }

  loadECharts();
  document.addEventListener("DOMContentLoaded", function () { drawIn(document); });
  // json_script elements may come after their chart in a fragment: htmx:load fires once the
  // whole fragment is in.
  document.addEventListener("htmx:load", function (event) { drawIn(event.detail.elt); });
  // HTMX announces every element it removes (and only those: a response it does not swap
  // leaves the charts alone).
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    if (!ready() || !isChart(event.target)) return;
    var chart = window.echarts.getInstanceByDom(event.target);
    if (chart) chart.dispose();
  });
  window.addEventListener("resize", function () {
    if (!ready()) return;
    Object.keys(draws).forEach(function (attribute) {
      chartsIn(document, attribute).forEach(function (el) {
        if (!sized(el)) return;
        var chart = window.echarts.getInstanceByDom(el);
        if (chart) chart.resize(); else draw(attribute, el);
      });
    });
  });

  window.mlCharts = { register: register };
})();

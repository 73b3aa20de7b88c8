// Draws the results page's charts from the JSON the page embeds. Without JavaScript the page
// still has its table of numbers per day and the full results table; this only adds pictures.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);

  var styles = getComputedStyle(document.documentElement);
  function css(name) { return styles.getPropertyValue(name).trim(); }
  var palette = [css("--series-1"), css("--series-2"), css("--series-3"), css("--series-4")];
  // A shape per species as well as a colour, so colour is never the only signal.
  var shapes = ["circle", "triangle", "rect", "crossRot"];
  // Classes as the page names them (the schema's display names); stored names key the data.
  function shown(name) { return (data.names && data.names[name]) || name; }
  function look(name) {
    var index = Math.max(0, data.species.indexOf(name)) % palette.length;
    return { color: palette[index], shape: shapes[index] };
  }

  Chart.defaults.color = css("--muted");
  Chart.defaults.borderColor = css("--border");
  Chart.defaults.font.family = css("--font");
  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  if (reducedMotion) Chart.defaults.animation = false;
  var legend = { position: "bottom", labels: { usePointStyle: true, boxHeight: 8 } };

  function show(name) {
    var box = document.querySelector('[data-chart="' + name + '"]');
    box.hidden = false;
    // With the chart drawn, its table of numbers folds away (it stays one click from view).
    var numbers = box.parentNode.querySelector(".chart-data");
    if (numbers) numbers.open = false;
    return box.querySelector("canvas");
  }

  var names = Object.keys(data.daily);
  new Chart(show("daily"), {
    type: "bar",
    data: {
      labels: data.day_labels,
      datasets: names.map(function (name) {
        var style = look(name);
        return { label: shown(name), data: data.daily[name], backgroundColor: style.color, pointStyle: style.shape, borderRadius: 2 };
      }),
    },
    options: {
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: legend },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: data.count_title } },
      },
    },
  });

  // A model with fewer than two number inputs has no scatter: the page leaves its figure out.
  if (!data.scatter || !data.axes || !document.querySelector('[data-chart="scatter"]')) return;
  var bounds = data.scatter_window || { x: [], y: [] };  // none without points: the chart's own
  function withUnit(value, unit) { return unit ? value + " " + unit : String(value); }
  var bySpecies = {};
  data.scatter.forEach(function (row) {
    (bySpecies[row[2]] = bySpecies[row[2]] || []).push({ x: row[1], y: row[0] });
  });
  new Chart(show("scatter"), {
    type: "scatter",
    data: {
      datasets: data.species.filter(function (name) { return bySpecies[name]; }).map(function (name) {
        var style = look(name);
        return { label: shown(name), data: bySpecies[name], backgroundColor: style.color, borderColor: style.color,
          pointStyle: style.shape, pointRadius: 3.5, pointHoverRadius: 5 };
      }),
    },
    options: {
      maintainAspectRatio: false,
      plugins: {
        legend: legend,
        tooltip: { callbacks: { label: function (item) {
          return item.dataset.label + ": " + withUnit(item.parsed.y, data.axes.y.unit) + ", " + withUnit(item.parsed.x, data.axes.x.unit);
        } } },
      },
      // The window the server chose (selectors.ScatterWindow): an outlier does not squash the rest.
      scales: {
        x: { title: { display: true, text: data.axes.x.title }, min: bounds.x[0], max: bounds.x[1] },
        y: { title: { display: true, text: data.axes.y.title }, min: bounds.y[0], max: bounds.y[1] },
      },
    },
  });
})();

// Researcher dashboard plots (Chart.js). Each chart reads the numbers the page embeds with json_script;
// the same numbers are downloadable as CSV next to it. A chart with no data says so instead of drawing.
(function () {
  "use strict";
  const PALETTE = ["#1f5f8b", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];

  function data(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function noData(canvas) {
    const note = document.createElement("p");
    note.className = "meta no-data";
    note.textContent = "No data yet.";
    canvas.replaceWith(note);
  }

  function draw(canvasId, config, rows) {
    const canvas = document.getElementById(canvasId);
    if (!canvas) return;
    if (!rows || rows.length === 0) return noData(canvas);
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    canvas.chart = new Chart(canvas, config);
    canvas.dataset.drawn = "true";
  }

  // One line per puzzle group over session numbers.
  function linesByGroup(rows, valueOf) {
    const sessions = [...new Set(rows.map((r) => r.session))].sort((a, b) => a - b);
    const groups = [...new Set(rows.map((r) => r.puzzle_group))].sort();
    const datasets = groups.map((group, i) => ({
      label: group,
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length],
      spanGaps: true,
      data: sessions.map((s) => {
        const row = rows.find((r) => r.session === s && r.puzzle_group === group);
        return row ? valueOf(row) : null;
      }),
    }));
    return { labels: sessions.map((s) => "Session " + s), datasets };
  }

  function studyCharts() {
    const rows = data("data-enrolment");
    if (rows === null) return;
    draw("chart-enrolment", {
      type: "bar",
      data: {
        labels: rows.map((r) => r.arm),
        datasets: [
          { label: "Active", data: rows.map((r) => r.active), backgroundColor: PALETTE[0] },
          { label: "Withdrawn", data: rows.map((r) => r.withdrawn), backgroundColor: PALETTE[1] },
        ],
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    }, rows);
  }

  function participantCharts() {
    const accuracy = data("data-accuracy");
    if (accuracy === null) return;
    draw("chart-accuracy", { type: "line", data: linesByGroup(accuracy, (r) => r.accuracy),
      options: { scales: { y: { min: 0, max: 1 } } } }, accuracy);
    draw("chart-cue-level", { type: "line", data: linesByGroup(accuracy, (r) => r.mean_cue_level),
      options: { scales: { y: { beginAtZero: true } } } }, accuracy);
    const times = data("data-response-times");
    draw("chart-response-times", { type: "line", data: linesByGroup(times, (r) => r.median_response_ms / 1000),
      options: { scales: { y: { beginAtZero: true } } } }, times);
    const retention = data("data-retention");
    const counts = new Array(10).fill(0);
    retention.forEach((r) => { counts[Math.min(9, Math.floor(r.retrievability * 10))] += 1; });
    draw("chart-retention", {
      type: "bar",
      data: {
        labels: counts.map((_, i) => `${i * 10}–${i * 10 + 10}%`),
        datasets: [{ label: "Items", backgroundColor: PALETTE[2], data: counts }],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }, retention);
    const coverage = data("data-coverage");
    draw("chart-coverage", {
      type: "bar",
      data: {
        labels: coverage.map((r) => String(r.year)),
        datasets: [
          { label: "Trained", data: coverage.map((r) => r.trained), backgroundColor: PALETTE[0] },
          { label: "Not yet trained", data: coverage.map((r) => r.entries - r.trained), backgroundColor: "#bbbbbb" },
        ],
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    }, coverage);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Chart === "undefined") return;
    studyCharts();
    participantCharts();
  });
})();

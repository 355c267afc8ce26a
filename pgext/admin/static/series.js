// Time-series widget: server-bucketed data drawn with uPlot (canvas), a
// drag-select zooms into a range (re-queried, so it becomes exact), and rows
// published on the table's pub/sub channel arrive over SSE and are plotted.
"use strict";
(function () {
  const { config, api, text } = window.pgext;
  const spec = config.series;
  const $ = (id) => document.getElementById(id);
  const fill = (element, values, blank) => {
    if (blank) element.add(new Option("(none)", ""));
    for (const value of values) element.add(new Option(value, value));
  };
  fill($("value"), spec.value_columns);
  fill($("key"), spec.series_keys, true);
  fill($("agg"), config.aggregates);
  $("points").value = config.defaultPoints;
  $("points").max = config.maxPoints;

  const params = new URLSearchParams(location.search);
  for (const name of ["value", "key", "agg", "points"]) {
    if (params.has(name)) $(name).value = params.get(name);
  }
  const range = { start: params.get("start"), end: params.get("end") };

  const palette = ["#1b5e9a", "#d35400", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#f39c12", "#2c3e50", "#e84393"];
  const state = { plot: null, data: null, keys: [], events: 0 };
  window.pgextChart = state;

  function toLocalInput(seconds) {
    const d = new Date(seconds * 1000);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }
  function fromLocalInput(value) { return value ? new Date(value).toISOString() : null; }

  function draw(result) {
    const x = result.buckets;
    state.keys = result.series.map((s) => s.key);
    state.data = [x, ...result.series.map((s) => s.values)];
    const series = [{}, ...result.series.map((s, i) => ({
      label: s.key === null ? $("value").value : String(s.key),
      stroke: palette[i % palette.length],
      width: 1.5,
      spanGaps: false,
    }))];
    if (state.plot) state.plot.destroy();
    const chart = $("chart");
    state.plot = new uPlot({
      width: Math.max(400, chart.clientWidth - 2),
      height: 360,
      series,
      scales: { x: { time: true } },
      axes: [{}, { label: `${$("agg").value}(${$("value").value})` }],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          const start = u.posToVal(u.select.left, "x");
          const end = u.posToVal(u.select.left + u.select.width, "x");
          range.start = new Date(start * 1000).toISOString();
          range.end = new Date(end * 1000).toISOString();
          $("start").value = toLocalInput(start);
          $("end").value = toLocalInput(end);
          load();
        }],
      },
    }, state.data, chart);
  }

  async function load() {
    const query = new URLSearchParams({ value: $("value").value, agg: $("agg").value, points: $("points").value });
    if ($("key").value) query.set("key", $("key").value);
    if (range.start) query.set("start", range.start);
    if (range.end) query.set("end", range.end);
    text("status", "loading…");
    try {
      const started = performance.now();
      const result = await api(`${config.api}?${query}`);
      const ms = Math.round(performance.now() - started);
      if (result.start && !$("start").value) {
        $("start").value = toLocalInput(Date.parse(result.start) / 1000);
        $("end").value = toLocalInput(Date.parse(result.end) / 1000);
      }
      draw(result);
      const sampled = result.sampled_percent ? `, sampled ${result.sampled_percent.toFixed(2)}% (zoom in for exact)` : "";
      text("status", `${result.buckets.length} buckets of ${result.width_seconds} s, ${result.series.length} series (${ms} ms${sampled})`);
      $("status").dataset.buckets = String(result.buckets.length);
      $("status").className = "";
    } catch (error) {
      text("status", error.message);
      $("status").className = "error";
    }
  }

  function plotEvent(row) {
    const time = Date.parse(row[spec.time_column]) / 1000;
    const value = Number(row[$("value").value]);
    if (!state.data || !Number.isFinite(time) || !Number.isFinite(value)) return;
    const keyName = $("key").value;
    const key = keyName ? String(row[keyName]) : null;
    const index = state.keys.findIndex((k) => (k === null ? null : String(k)) === key);
    if (index < 0) return;
    const x = state.data[0];
    if (x.length && time < x[x.length - 1]) return;
    x.push(time);
    state.data.forEach((values, i) => { if (i > 0) values.push(i - 1 === index ? value : null); });
    state.plot.setData(state.data);
  }

  function live() {
    const source = new EventSource(config.live);
    source.onopen = () => { text("live", "live: connected"); $("live").dataset.state = "open"; };
    source.onerror = () => { text("live", "live: reconnecting…"); $("live").dataset.state = "error"; };
    source.onmessage = (event) => {
      let row;
      try { row = JSON.parse(event.data); } catch (e) { return; }
      state.events += 1;
      const item = document.createElement("li");
      item.textContent = JSON.stringify(row);
      $("events").prepend(item);
      text("live", `live: ${state.events} event(s)`);
      $("live").dataset.events = String(state.events);
      plotEvent(row);
    };
  }

  $("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    range.start = fromLocalInput($("start").value);
    range.end = fromLocalInput($("end").value);
    load();
  });
  load();
  live();
})();

// Time-series widget: server-bucketed data drawn with uPlot (canvas), a
// drag-select zooms into a range (re-queried, so it becomes exact), and rows
// published on the table's pub/sub channel arrive over SSE and are folded
// into their bucket the way the server buckets.
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
  if (params.has("keys")) $("keys").value = params.getAll("keys").join(",");
  // A range the user chose (From/To, a drag-select) stays put while live
  // rows arrive; without one the chart follows the newest data.
  const range = { start: params.get("start"), end: params.get("end") };

  const palette = ["#1b5e9a", "#d35400", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#f39c12", "#2c3e50", "#e84393"];
  const state = { plot: null, data: null, counts: [], keys: [], result: null, events: 0, folded: 0, outside: 0 };
  window.pgextChart = state;

  function toLocalInput(seconds) {
    const d = new Date(seconds * 1000);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }
  function fromLocalInput(value) { return value ? new Date(value).toISOString() : null; }

  function duration(seconds) {
    const units = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
    for (const [size, name] of units) {
      if (seconds >= size && seconds % size === 0) return `${seconds / size} ${name}`;
    }
    return `${seconds} s`;
  }

  // The server sends null where a series has no row in a bucket.  Series
  // reporting at different times leave such holes in every other bucket:
  // those are bridged (undefined, which uPlot skips); a hole much longer
  // than the series' usual spacing stays a gap (null).
  function bridge(x, values, width) {
    const present = [];
    values.forEach((v, i) => { if (v !== null) present.push(i); });
    const spacings = present.slice(1).map((i, n) => x[i] - x[present[n]]).sort((a, b) => a - b);
    const usual = spacings.length ? spacings[Math.floor(spacings.length / 2)] : width;
    const limit = 3 * Math.max(usual, width);
    const out = values.slice();
    for (let n = 1; n < present.length; n += 1) {
      const from = present[n - 1], to = present[n];
      if (x[to] - x[from] <= limit) for (let i = from + 1; i < to; i += 1) out[i] = undefined;
    }
    return out;
  }

  function axisLabel(result) {
    return `${$("agg").value}(${$("value").value}) per ${duration(result.width_seconds)}`;
  }

  function draw(result) {
    const x = result.buckets.slice();
    state.result = result;
    state.keys = result.series.map((s) => s.key);
    state.counts = result.series.map((s) => s.counts.slice());
    state.data = [x, ...result.series.map((s) => bridge(x, s.values, result.width_seconds))];
    // Server order is natural order (sensor 2 before sensor 10): keep it.
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
      axes: [{}, { label: axisLabel(result) }],
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

  function showStatus(ms) {
    const result = state.result;
    const sampled = result.sampled_percent ? `, sampled ${result.sampled_percent.toFixed(2)}% (zoom in for exact)` : "";
    const live = state.outside ? `; ${state.outside} live row(s) after the shown range` : "";
    text("status", `${state.data[0].length} buckets of ${duration(result.width_seconds)}, ${result.series.length} series (${ms} ms${sampled})${live}`);
    $("status").dataset.buckets = String(state.data[0].length);
    $("status").dataset.width = String(result.width_seconds);
  }

  async function load() {
    const query = new URLSearchParams({ value: $("value").value, agg: $("agg").value, points: $("points").value });
    if ($("key").value) query.set("key", $("key").value);
    if ($("key").value && $("keys").value.trim()) {
      for (const key of $("keys").value.split(",")) if (key.trim()) query.append("keys", key.trim());
    }
    if (range.start) query.set("start", range.start);
    if (range.end) query.set("end", range.end);
    text("status", "loading…");
    try {
      const started = performance.now();
      const result = await api(`${config.api}?${query}`);
      state.ms = Math.round(performance.now() - started);
      state.outside = 0;
      if (result.start && !$("start").value) {
        $("start").value = toLocalInput(Date.parse(result.start) / 1000);
        $("end").value = toLocalInput(Date.parse(result.end) / 1000);
      }
      draw(result);
      showStatus(state.ms);
      $("status").className = "";
    } catch (error) {
      text("status", error.message);
      $("status").className = "error";
    }
  }

  // One live row into its bucket: the bucket the server would give it
  // (same width, same origin), the value combined with the bucket's rows.
  function fold(values, counts, i, value) {
    const old = values[i], n = counts[i] || 0;
    const has = old !== null && old !== undefined;
    const agg = $("agg").value;
    if (agg === "count") values[i] = (has ? old : 0) + 1;
    else if (!has) values[i] = value;
    else if (agg === "avg") values[i] = (old * n + value) / (n + 1);
    else if (agg === "sum") values[i] = old + value;
    else if (agg === "min") values[i] = Math.min(old, value);
    else if (agg === "max") values[i] = Math.max(old, value);
    counts[i] = n + 1;
  }

  function insertBucket(at, bucket, gap) {
    state.data.forEach((values, s) => values.splice(at, 0, s === 0 ? bucket : (gap ? null : undefined)));
    state.counts.forEach((counts) => counts.splice(at, 0, 0));
  }

  function plotEvent(row) {
    const result = state.result;
    const time = Date.parse(row[spec.time_column]) / 1000;
    const value = Number(row[$("value").value]);
    if (!state.data || !result || !Number.isFinite(time) || !Number.isFinite(value)) return;
    const keyName = $("key").value;
    const key = keyName ? String(row[keyName]) : null;
    const index = state.keys.findIndex((k) => (k === null ? null : String(k)) === key);
    if (index < 0) return;
    const chosenEnd = range.end ? Date.parse(range.end) / 1000 : null;
    if ((range.start && time < Date.parse(range.start) / 1000) || (chosenEnd !== null && time >= chosenEnd)) {
      // Outside the range the user is looking at: counted, never drawn (the
      // x axis must not jump to now).
      state.outside += 1;
      showStatus(state.ms);
      return;
    }
    const width = result.width_seconds;
    const bucket = result.origin + Math.floor((time - result.origin) / width) * width;
    const x = state.data[0];
    let i = x.indexOf(bucket);
    if (i < 0) {
      i = x.findIndex((b) => b > bucket);
      if (i < 0) i = x.length;
      // Long silence before this row: break the line rather than draw it
      // across hours without data.
      const previous = i > 0 ? x[i - 1] : null;
      if (previous !== null && bucket - previous > 3 * width) {
        insertBucket(i, previous + width, true);
        i += 1;
      }
      insertBucket(i, bucket, false);
    }
    fold(state.data[index + 1], state.counts[index], i, value);
    state.folded += 1;
    $("status").dataset.folded = String(state.folded);
    // Keep a chosen range (false: do not rescale to the data).
    state.plot.setData(state.data, chosenEnd === null);
    showStatus(state.ms);
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
      while ($("events").children.length > 50) $("events").lastChild.remove();
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

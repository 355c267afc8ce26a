// Map widget, display side: rows of one table on a Leaflet map, loaded by
// bounding box (simplified shapes, or clusters when there are too many), a
// basemap that needs no network, and the side panel that shows a clicked
// row as a table.  Editing lives in map-editor.js: it never works on the
// simplified shapes drawn here.
"use strict";
(function () {
  const { config, api, text } = window.pgext;
  const columns = config.maps.map((m) => m.column);
  const select = document.getElementById("column");
  for (const name of columns) select.add(new Option(name, name));
  const state = { column: columns[0], loading: null, selected: null, busy: () => false };

  const map = L.map("map", { worldCopyJump: false, minZoom: 1, maxZoom: 19 });
  window.pgextMap = map;
  L.control.scale({ imperial: false }).addTo(map);  // distances, at city zoom too
  basemap();

  // Country outlines from Natural Earth (world-atlas, vendored): the
  // default, so the map reads as a map offline; real tiles when configured.
  function basemap() {
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);
      return;
    }
    map.createPane("basemap").style.zIndex = 150;
    const renderer = L.canvas({ pane: "basemap" });
    map.attributionControl.addAttribution("Outlines: Natural Earth");
    fetch(config.basemap)
      .then((response) => response.json())
      .then((topology) => {
        const land = topojson.feature(topology, topology.objects.countries);
        land.features.forEach((f) => unwrap(f.geometry));
        L.geoJSON(land, {
          pane: "basemap", renderer, interactive: false, pmIgnore: true, snapIgnore: true,
          style: { color: "#a09a86", weight: 0.7, fillColor: "#f4f1e8", fillOpacity: 1 },
        }).addTo(map);
        document.getElementById("map").dataset.basemap = "natural-earth";
      })
      .catch((error) => message(`basemap not loaded: ${error.message}`, true));
  }

  // Rings that cross the antimeridian jump from 180 to -180; Leaflet would
  // draw that jump as a band across the world: continue them past 180.
  function unwrap(geometry) {
    const ring = (points) => {
      let shift = 0;
      return points.map(([x, y], i) => {
        const step = i > 0 ? x - points[i - 1][0] : 0;
        if (step > 180) shift -= 360;
        else if (step < -180) shift += 360;
        return [x + shift, y];
      });
    };
    const rings = (c) => (typeof c[0][0] === "number" ? ring(c) : c.map(rings));
    if (geometry && geometry.coordinates) geometry.coordinates = rings(geometry.coordinates);
  }

  const params = new URLSearchParams(location.search);
  const view = (params.get("view") || "").split(",").map(Number);
  const fit = (box) => {
    // A single point or a straight line has no area: give it some.
    const padX = box[2] - box[0] < 1e-4 ? 0.005 : 0;
    const padY = box[3] - box[1] < 1e-4 ? 0.005 : 0;
    map.fitBounds([[box[1] - padY, box[0] - padX], [box[3] + padY, box[2] + padX]], { padding: [20, 20] });
  };
  if (view.length === 4 && view.every(Number.isFinite)) {
    fit(view);
  } else {
    // Open where the rows are (the server's extent), else on the world.
    map.setView([20, 0], 2);
    api(`${config.api}/extent?column=${encodeURIComponent(columns[0])}`)
      .then((result) => { if (result.bbox) fit(result.bbox); })
      .catch(() => {});
  }

  function spec() { return config.maps.find((m) => m.column === state.column); }

  function message(value, isError) {
    const element = document.getElementById("message");
    element.textContent = value;
    element.className = isError ? "error" : "";
  }

  const plain = { color: "#1b5e9a", weight: 2, fillColor: "#3388ff", fillOpacity: 0.25 };
  const chosen = { color: "#e8590c", weight: 4, fillColor: "#ff922b", fillOpacity: 0.45 };
  const styleOf = (id) => (id !== undefined && id === state.selected ? chosen : plain);

  // A bubble grows with the digits of its count, never beyond the 40 px the
  // server's cluster grid leaves between bubbles (geo.CLUSTER_BUBBLE).
  const bubble = (n) => Math.min(40, 22 + 4 * String(n).length);

  const data = L.geoJSON(null, {
    pointToLayer(feature, latlng) {
      if (feature.properties && feature.properties.cluster) {
        const n = feature.properties.count;
        const size = bubble(n);
        return L.marker(latlng, {
          pmIgnore: true, snapIgnore: true,
          icon: L.divIcon({
            className: "pgext-cluster", iconSize: [size, size],
            html: `<span style="line-height:${size - 4}px">${n}</span>`,
          }),
        });
      }
      return L.circleMarker(latlng, { radius: 6, ...styleOf(feature.id), fillOpacity: 0.8 });
    },
    style(feature) { return styleOf(feature.id); },
    onEachFeature(feature, layer) {
      if (feature.properties && feature.properties.cluster) {
        layer.on("click", () => map.setView(layer.getLatLng(), Math.min(map.getZoom() + 2, 19)));
        return;
      }
      layer.pgextId = feature.id;
      layer.pgextVersion = feature.properties && feature.properties.version;
      layer.on("click", () => { if (!state.busy()) showRow(feature.id); });
    },
  }).addTo(map);

  function highlight() {
    data.eachLayer((layer) => {
      if (layer.pgextId === undefined || !layer.setStyle) return;
      layer.setStyle(styleOf(layer.pgextId));
      if (layer.pgextId === state.selected && layer.bringToFront) layer.bringToFront();
    });
  }

  async function showRow(id) {
    if (id === undefined || id === null) return;
    state.selected = id;
    highlight();
    try {
      const result = await api(`${config.api}/rows/${encodeURIComponent(id)}`);
      renderRow(result, id);
    } catch (error) {
      message(error.message, true);
    }
  }

  // A geometry in the panel: its kind and size, not its GeoJSON.
  function describeGeometry(value) {
    let geometry = value;
    if (typeof value === "string") {
      try { geometry = JSON.parse(value); } catch (e) { return value; }
    }
    if (!geometry || !geometry.type) return String(value);
    const count = (c) => (typeof c[0] === "number" ? 1 : c.reduce((n, x) => n + count(x), 0));
    if (geometry.type === "Point") {
      return `Point (${geometry.coordinates.map((v) => v.toFixed(5)).join(", ")})`;
    }
    if (!geometry.coordinates) return geometry.type;
    return `${geometry.type}, ${count(geometry.coordinates)} vertices`;
  }

  function renderRow(result, id) {
    const box = document.getElementById("row");
    box.textContent = "";
    const caption = document.createElement("h2");
    caption.textContent = `${config.table} · row ${id}`;
    const table = document.createElement("table");
    table.id = "row-table";
    for (const [key, value] of Object.entries(result.row)) {
      const tr = table.insertRow();
      const th = document.createElement("th");
      th.textContent = key;
      tr.appendChild(th);
      const cell = tr.insertCell();
      if (value === null) {
        cell.textContent = "—";
        cell.className = "null";
      } else if (columns.includes(key)) {
        cell.textContent = describeGeometry(value);
      } else {
        cell.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
      }
    }
    const actions = document.createElement("p");
    actions.className = "actions";
    const link = document.createElement("a");
    link.href = new URL(result.admin_url, location.href).href;
    link.id = "edit-link";
    link.textContent = "Edit in Piccolo Admin";
    actions.append(link);
    box.append(caption, table, actions);
    for (const hook of view_.rowActions) hook(actions, id);
  }

  function editing() {
    return state.busy() || map.pm.globalDragModeEnabled() || map.pm.globalRemovalModeEnabled();
  }

  async function load() {
    if (editing()) return;
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const bbox = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)];
    if (state.loading) state.loading.abort();
    const controller = new AbortController();
    state.loading = controller;
    const url = `${config.api}/features?column=${encodeURIComponent(state.column)}&bbox=${bbox.map((v) => v.toFixed(6)).join(",")}&zoom=${Math.round(map.getZoom())}`;
    const status = document.getElementById("status");
    try {
      const started = performance.now();
      const collection = await api(url, { signal: controller.signal });
      // An editor opened meanwhile hides its row's shape: keep it hidden.
      if (editing()) return;
      data.clearLayers();
      data.addData(collection);
      const info = collection.pgext || {};
      const ms = Math.round(performance.now() - started);
      text("status", info.mode === "clusters"
        ? `${info.count} rows in ${collection.features.length} clusters: zoom in to edit (${ms} ms)`
        : `${collection.features.length} row${collection.features.length === 1 ? "" : "s"} shown (${ms} ms)`);
      status.className = "";
      status.dataset.count = String(collection.features.length);
      status.dataset.mode = info.mode || "";
      status.dataset.zoom = String(Math.round(map.getZoom()));
    } catch (error) {
      if (error.name !== "AbortError") {
        text("status", error.message);
        status.className = "error";
      }
    }
  }

  // What map-editor.js builds on.
  const view_ = {
    map, data, state, spec, message, load, showRow, highlight, rowActions: [],
    clearRow() { state.selected = null; highlight(); document.getElementById("row").textContent = ""; },
  };
  window.pgextMapView = view_;
  select.addEventListener("change", () => {
    state.column = select.value;
    for (const hook of view_.columnChanged || []) hook();
    load();
  });
  map.on("moveend", load);
  document.addEventListener("DOMContentLoaded", load);
  if (document.readyState !== "loading") setTimeout(load, 0);
})();

// Map widget: rows of one table on a Leaflet map, loaded by bounding box;
// draw / move / delete geometries with leaflet-geoman, saved through the
// widgets' JSON API, which applies Piccolo Admin's rules (no tools at all
// when the table is read-only for the widgets).  No tiles unless configured: a plain background with a
// graticule works offline.
"use strict";
(function () {
  const { config, api, text } = window.pgext;
  const columns = config.maps.map((m) => m.column);
  const select = document.getElementById("column");
  for (const name of columns) select.add(new Option(name, name));
  const state = { column: columns[0], loading: null, layers: 0 };

  const map = L.map("map", { worldCopyJump: false, minZoom: 1, maxZoom: 19 });
  window.pgextMap = map;
  if (config.tileUrl) {
    L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);
  }
  const graticule = L.layerGroup().addTo(map);
  for (let lon = -180; lon <= 180; lon += 30) {
    L.polyline([[-85, lon], [85, lon]], { color: "#9ab", weight: 1, interactive: false, pmIgnore: true }).addTo(graticule);
  }
  for (let lat = -60; lat <= 60; lat += 30) {
    L.polyline([[lat, -180], [lat, 180]], { color: "#9ab", weight: 1, interactive: false, pmIgnore: true }).addTo(graticule);
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

  // Multi* columns take the single shapes geoman draws as one-part multis.
  function fitGeometry(geometry) {
    const type = spec().geometry_type;
    if (type === "Multi" + geometry.type) {
      return { type, coordinates: [geometry.coordinates] };
    }
    return geometry;
  }

  const data = L.geoJSON(null, {
    pointToLayer(feature, latlng) {
      if (feature.properties && feature.properties.cluster) {
        const n = feature.properties.count;
        return L.marker(latlng, {
          pmIgnore: true,
          icon: L.divIcon({ className: "pgext-cluster", html: String(n), iconSize: [32, 32] }),
        });
      }
      return L.circleMarker(latlng, { radius: 6, color: "#1b5e9a", fillColor: "#3388ff", fillOpacity: 0.7 });
    },
    style() { return { color: "#1b5e9a", weight: 2, fillOpacity: 0.25 }; },
    onEachFeature(feature, layer) {
      if (feature.properties && feature.properties.cluster) {
        layer.on("click", () => map.setView(layer.getLatLng(), Math.min(map.getZoom() + 2, 19)));
        return;
      }
      bindFeature(layer, feature.id);
    },
  }).addTo(map);

  function bindFeature(layer, id) {
    layer.pgextId = id;
    layer.on("click", () => showRow(layer.pgextId));
    layer.on("pm:edit", () => save(layer));
    layer.on("pm:dragend", () => save(layer));
  }

  async function showRow(id) {
    if (id === undefined || id === null) return;
    try {
      const result = await api(`${config.api}/rows/${encodeURIComponent(id)}`);
      renderRow(result, id);
    } catch (error) {
      message(error.message, true);
    }
  }

  function renderRow(result, id) {
    const box = document.getElementById("row");
    box.textContent = "";
    const table = document.createElement("table");
    for (const [key, value] of Object.entries(result.row)) {
      const tr = table.insertRow();
      const th = document.createElement("th");
      th.textContent = key;
      tr.appendChild(th);
      tr.insertCell().textContent = value === null ? "null" : typeof value === "object" ? JSON.stringify(value) : String(value);
    }
    const link = document.createElement("a");
    link.href = result.admin_url;
    link.id = "edit-link";
    link.textContent = "Edit in Piccolo Admin";
    box.append(table, link);
    if (config.editable) {
      // Deleting the row obeys the admin's delete rules (validators, pre_delete hooks).
      const button = document.createElement("button");
      button.id = "delete-row";
      button.type = "button";
      button.textContent = "Delete row";
      button.addEventListener("click", () => deleteRow(id));
      box.append(" ", button);
    }
  }

  async function deleteRow(id) {
    try {
      await api(`${config.api}/rows/${encodeURIComponent(id)}`, { method: "DELETE" });
      document.getElementById("row").textContent = "";
      message(`deleted row ${id}`);
      load();
    } catch (error) {
      message(`not deleted: ${error.message}`, true);
    }
  }

  async function save(layer) {
    const geometry = fitGeometry(layer.toGeoJSON().geometry);
    try {
      if (layer.pgextId === undefined) {
        const result = await api(`${config.api}/features`, {
          method: "POST", body: JSON.stringify({ column: state.column, geometry }),
        });
        bindFeature(layer, result.id);
        data.addLayer(layer);
        message(`saved new row ${result.id}`);
      } else {
        await api(`${config.api}/features/${encodeURIComponent(layer.pgextId)}`, {
          method: "PATCH", body: JSON.stringify({ column: state.column, geometry }),
        });
        message(`saved row ${layer.pgextId}`);
      }
    } catch (error) {
      message(`not saved: ${error.message}`, true);
      if (layer.pgextId === undefined) map.removeLayer(layer);
    }
  }

  map.on("pm:create", (event) => save(event.layer));
  // Leaving an editing mode reloads, so an edit the server refused (the
  // admin's rules, bad input) is shown as it is in the database again.
  for (const mode of ["pm:globaleditmodetoggled", "pm:globaldragmodetoggled", "pm:globalremovalmodetoggled"]) {
    map.on(mode, (event) => { if (!event.enabled) load(); });
  }
  map.on("pm:remove", async (event) => {
    const id = event.layer.pgextId;
    if (id === undefined) return;
    try {
      await api(`${config.api}/features/${encodeURIComponent(id)}?column=${encodeURIComponent(state.column)}`, { method: "DELETE" });
      message(`cleared the geometry of row ${id}`);
    } catch (error) {
      message(`not deleted: ${error.message}`, true);
      load();
    }
  });

  function editing() {
    return map.pm.globalEditModeEnabled() || map.pm.globalDragModeEnabled() || map.pm.globalRemovalModeEnabled();
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
    try {
      const started = performance.now();
      const collection = await api(url, { signal: controller.signal });
      data.clearLayers();
      data.addData(collection);
      const info = collection.pgext || {};
      const ms = Math.round(performance.now() - started);
      const status = info.mode === "clusters"
        ? `${info.count} rows in ${collection.features.length} clusters — zoom in to edit (${ms} ms)`
        : `${collection.features.length} features (${ms} ms)`;
      text("status", status);
      document.getElementById("status").dataset.count = String(collection.features.length);
      document.getElementById("status").dataset.mode = info.mode || "";
    } catch (error) {
      if (error.name !== "AbortError") {
        text("status", error.message);
        document.getElementById("status").className = "error";
      }
    }
  }

  function tools() {
    const type = spec().geometry_type.replace(/^Multi/, "");
    const any = type === "Geometry" || type === "GeometryCollection";
    map.pm.addControls({
      position: "topleft",
      drawMarker: false,
      drawCircle: false,
      drawText: false,
      cutPolygon: false,
      rotateMode: false,
      drawCircleMarker: any || type === "Point",
      drawPolyline: any || type === "LineString",
      drawPolygon: any || type === "Polygon",
      drawRectangle: any || type === "Polygon",
    });
  }

  // The admin's rules: a read-only table gets no editing tools at all.
  const edit = config.editable ? tools : () => message(`read-only: ${config.readOnlyReason}`);
  select.addEventListener("change", () => { state.column = select.value; map.pm.removeControls(); edit(); load(); });
  map.on("moveend", load);
  edit();
  load();
})();

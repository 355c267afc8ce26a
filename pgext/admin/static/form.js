// Maps (and a chart) inside Piccolo Admin's add/edit forms.  The admin is
// a Vue app: its forms come and go, so a MutationObserver finds each row
// form's inputs by name, and fields whose schema says x-widget get a widget
// under the input.  The input stays the source of truth: the map writes
// GeoJSON text into it (with an "input" event for Vue's v-model) and the
// admin submits it as usual.
"use strict";
(function () {
  const cfg = window.pgextForm;
  const schemas = new Map();
  window.pgextFormMaps = {};

  function tableOfRoute() {
    const match = location.hash.match(/^#\/([^/?#]+)\//);
    return match && match[1] !== "forms" ? decodeURIComponent(match[1]) : null;
  }
  function widgetSchema(property) {
    if (property["x-widget"]) return property;
    for (const part of property.anyOf || []) if (part["x-widget"]) return part;
    return null;
  }
  function schemaOf(table) {
    if (!schemas.has(table)) {
      const url = `${cfg.admin}/api/tables/${encodeURIComponent(table)}/schema/`;
      schemas.set(table, fetch(url, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null)).catch(() => null));
    }
    return schemas.get(table);
  }
  function el(tag, className, textContent) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (textContent) node.textContent = textContent;
    return node;
  }

  // Vue sets input.value directly (no event) when it shows another row:
  // watch the property so the widget follows.
  function watchValue(input, onChange) {
    const native = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value");
    let own = false;
    Object.defineProperty(input, "value", {
      configurable: true,
      get() { return native.get.call(this); },
      set(value) { native.set.call(this, value); if (!own) onChange(); },
    });
    input.addEventListener("change", onChange);
    return (value) => {
      own = true;
      try { input.value = value; } finally { own = false; }
      input.dispatchEvent(new Event("input", { bubbles: true }));
    };
  }

  // Web Mercator columns: Leaflet works in degrees, the column in metres.
  function projector(srid) {
    if (srid === 3857) {
      const crs = L.CRS.EPSG3857;
      return {
        toMap: ([x, y]) => { const p = crs.unproject(L.point(x, y)); return [p.lng, p.lat]; },
        fromMap: ([lng, lat]) => { const p = crs.project(L.latLng(lat, lng)); return [p.x, p.y]; },
      };
    }
    return { toMap: (c) => c, fromMap: (c) => c };
  }
  function mapCoords(coords, f) {
    return typeof coords[0] === "number" ? f(coords) : coords.map((c) => mapCoords(c, f));
  }

  // Natural Earth country outlines under the graticule, fetched once for
  // every form map: offline, the map still shows where on Earth it is.
  let land = null;
  function outlines(map) {
    if (!cfg.basemap || typeof topojson === "undefined") return;
    if (!land) {
      land = fetch(cfg.basemap, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))))
        .then((topology) => topojson.feature(topology, topology.objects.countries))
        .catch(() => null);
    }
    land.then((countries) => {
      if (!countries) return;
      map.createPane("basemap").style.zIndex = 150;
      L.geoJSON(countries, {
        pane: "basemap", renderer: L.canvas({ pane: "basemap" }), interactive: false,
        pmIgnore: true, snapIgnore: true,
        style: { color: "#a09a86", weight: 0.7, fillColor: "#f4f1e8", fillOpacity: 1 },
      }).addTo(map);
      map.getContainer().dataset.basemap = "natural-earth";
    });
  }
  // Where an empty field's map opens: the place of the form's other
  // geometries, else the world.
  let lastView = null;

  const EDIT_TOOLS = { drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawRectangle: false, drawPolygon: false, drawCircle: false, drawText: false, cutPolygon: false, rotateMode: false, editMode: true, dragMode: true, removalMode: true };
  function drawTools(editor, type) {
    const base = type.replace(/^Multi/, "");
    if (editor === "box") return { ...EDIT_TOOLS, drawRectangle: true };
    if (base === "Point") return { ...EDIT_TOOLS, drawMarker: true };
    if (base === "LineString") return { ...EDIT_TOOLS, drawPolyline: true };
    if (base === "Polygon") return { ...EDIT_TOOLS, drawPolygon: true, drawRectangle: true };
    return { ...EDIT_TOOLS, drawMarker: true, drawPolyline: true, drawPolygon: true, drawRectangle: true };
  }

  function mountMap(input, field, name) {
    const srid = field["x-srid"];
    const type = field["x-geometry-type"] || "Geometry";
    const editor = field["x-editor"] || (type === "Point" ? "location" : "shape");
    const box = el("div", "pgext-form-map");
    box.dataset.column = name;
    box.dataset.editor = editor;
    const bar = el("div", "pgext-form-bar");
    const toggle = el("button", "pgext-form-text", "Edit as text");
    const clear = el("button", "pgext-form-clear", "Clear");
    toggle.type = clear.type = "button";
    const note = el("span", "pgext-form-note");
    bar.append(toggle, clear, note);
    const canvas = el("div", "pgext-form-canvas");
    box.append(bar, canvas);
    input.after(box);
    toggle.addEventListener("click", () => {
      const hidden = input.style.display === "none";
      input.style.display = hidden ? "" : "none";
      toggle.textContent = hidden ? "Hide text" : "Edit as text";
    });
    if ((srid !== 4326 && srid !== 3857) || (field["x-dimension"] || "XY") !== "XY") {
      // Leaflet draws degrees (and Web Mercator); other systems stay text.
      note.textContent = `no map for SRID ${srid} ${field["x-dimension"] || ""}: edit as text`;
      clear.remove();
      return;
    }
    input.style.display = "none";
    const project = projector(srid);
    const map = L.map(canvas, { worldCopyJump: false, minZoom: 1, maxZoom: 19 });
    window.pgextFormMaps[name] = map;
    if (cfg.tileUrl) L.tileLayer(cfg.tileUrl, { attribution: cfg.tileAttribution, maxZoom: 19 }).addTo(map);
    else {
      outlines(map);
      window.pgextGraticule(map, 19);
    }
    const layers = L.featureGroup().addTo(map);
    const write = watchValue(input, () => show(true));

    function say(message, error) {
      note.textContent = message;
      note.classList.toggle("error", Boolean(error));
    }
    function current() {
      const value = input.value.trim();
      if (!value) return null;
      try { return JSON.parse(value); } catch (e) { return undefined; }
    }
    function show(fit) {
      layers.clearLayers();
      const geometry = current();
      if (geometry === undefined) { say("not GeoJSON: edit as text", true); return; }
      if (geometry && geometry.coordinates) {
        const inDegrees = { type: geometry.type, coordinates: mapCoords(geometry.coordinates, project.toMap) };
        L.geoJSON(inDegrees, {
          pointToLayer: (feature, latlng) => L.marker(latlng, { draggable: editor === "location" }),
        }).eachLayer((layer) => {
          layers.addLayer(layer);
          if (editor === "location" && layer.on) layer.on("dragend", () => save());
        });
      }
      say(geometry ? describe(geometry) : "empty: click the map", false);
      if (fit) frame();
    }
    function frame() {
      const bounds = layers.getBounds();
      if (!bounds.isValid()) {
        if (!map._loaded) map.setView(lastView ? lastView.center : [20, 0], lastView ? lastView.zoom : 2);
        return;
      }
      if (bounds.getNorthEast().equals(bounds.getSouthWest())) map.setView(bounds.getCenter(), Math.max(map._loaded ? map.getZoom() : 0, 15));
      else map.fitBounds(bounds.pad(0.3));
      lastView = { center: map.getCenter(), zoom: map.getZoom() };
    }
    function describe(geometry) {
      if (geometry.type === "Point") return geometry.coordinates.map((c) => c.toFixed(6)).join(", ");
      const bounds = layers.getBounds();
      if (editor === "box" && bounds.isValid()) {
        const f = (p) => `${p.lng.toFixed(5)}, ${p.lat.toFixed(5)}`;
        return `box ${f(bounds.getSouthWest())} to ${f(bounds.getNorthEast())}`;
      }
      return geometry.type;
    }
    // The layers' geometry as the column's GeoJSON (one geometry; several
    // drawn shapes make a Multi* where the column allows it).
    function save() {
      const parts = [];
      layers.eachLayer((layer) => { if (layer.toGeoJSON) parts.push(layer.toGeoJSON().geometry); });
      let geometry = null;
      if (parts.length === 1) geometry = parts[0];
      else if (parts.length > 1) geometry = { type: `Multi${parts[0].type}`, coordinates: parts.map((p) => p.coordinates) };
      if (geometry && type.startsWith("Multi") && !geometry.type.startsWith("Multi")) {
        geometry = { type: type, coordinates: [geometry.coordinates] };
      }
      if (geometry) {
        geometry = { type: geometry.type, coordinates: mapCoords(geometry.coordinates, project.fromMap) };
        if (srid !== 4326) geometry.crs = { type: "name", properties: { name: `EPSG:${srid}` } };
      }
      write(geometry ? JSON.stringify(geometry) : "");
      say(geometry ? describe(geometry) : "empty: click the map", false);
      box.dataset.saved = String(Number(box.dataset.saved || 0) + 1);
    }

    if (editor === "location") {
      map.on("click", (event) => {
        layers.clearLayers();
        const marker = L.marker(event.latlng, { draggable: true }).on("dragend", () => save());
        layers.addLayer(marker);
        save();
      });
    } else if (map.pm) {
      map.pm.addControls(Object.assign({ position: "topleft" }, drawTools(editor, type)));
      map.on("pm:create", (event) => {
        // One geometry per field: a new box/shape replaces the old one
        // unless the column holds a Multi* type.
        if (!type.startsWith("Multi")) layers.eachLayer((layer) => { if (layer !== event.layer) layers.removeLayer(layer); });
        if (!layers.hasLayer(event.layer)) layers.addLayer(event.layer);
        event.layer.on("pm:edit", () => save());
        save();
      });
      map.on("pm:remove", (event) => { layers.removeLayer(event.layer); save(); });
      layers.on("layeradd", (event) => { if (event.layer.on) event.layer.on("pm:edit pm:dragend", () => save()); });
    }
    clear.addEventListener("click", () => { layers.clearLayers(); save(); });
    show(true);
    // The form may be laid out after the map (a modal opening).
    requestAnimationFrame(() => { map.invalidateSize(); frame(); });
  }

  async function mountChart(input, field, name, form, table) {
    const values = field["x-value-columns"] || [];
    const keys = field["x-series-keys"] || [];
    if (!values.length || typeof uPlot === "undefined") return;
    const box = el("div", "pgext-form-chart");
    box.dataset.column = name;
    const note = el("p", "pgext-form-note", "loading the series around this row…");
    box.append(note);
    (input.parentElement || input).after(box);
    const time = Date.parse(input.value);
    if (!Number.isFinite(time)) { note.textContent = "no time yet: the chart appears once the row has one"; return; }
    const keyInput = keys.length ? form.querySelector(`[name="${CSS.escape(keys[0])}"]`) : null;
    const query = new URLSearchParams({ value: values[0], points: "120" });
    query.set("start", new Date(time - 6 * 3600e3).toISOString());
    query.set("end", new Date(time + 6 * 3600e3).toISOString());
    if (keyInput && keyInput.value) { query.set("key", keys[0]); query.set("keys", keyInput.value); }
    const response = await fetch(`${cfg.widgets}/api/series/${encodeURIComponent(table)}?${query}`, { credentials: "same-origin" });
    if (!response.ok) { note.textContent = `no chart (${response.status})`; return; }
    const result = await response.json();
    const label = keyInput && keyInput.value ? `${values[0]} of ${keys[0]} ${keyInput.value}` : values[0];
    const width = result.width_seconds;
    const per = width % 3600 === 0 ? `${width / 3600} h` : width % 60 === 0 ? `${width / 60} min` : `${width} s`;
    note.textContent = `${label}, 12 h around this row (average per ${per})`;
    const series = result.series[0];
    const data = [result.buckets, series ? series.values : []];
    const mark = time / 1000;
    new uPlot({
      width: Math.max(300, Math.min(640, box.clientWidth || 480)), height: 160,
      series: [{}, { label: values[0], stroke: "#1b5e9a", width: 1.5, spanGaps: true }],
      scales: { x: { time: true } }, legend: { show: false },
      hooks: { draw: [(u) => {
        const x = u.valToPos(mark, "x", true);
        u.ctx.save(); u.ctx.strokeStyle = "#d35400"; u.ctx.lineWidth = 2;
        u.ctx.beginPath(); u.ctx.moveTo(x, u.bbox.top); u.ctx.lineTo(x, u.bbox.top + u.bbox.height); u.ctx.stroke(); u.ctx.restore();
      }] },
    }, data, box);
    box.dataset.points = String(data[0].length);
  }

  async function scan() {
    const table = tableOfRoute();
    if (!table) return;
    const forms = [...document.querySelectorAll("form")].filter(
      (f) => f.querySelector('[data-uitest="save_button"], [data-uitest="create_button"]'));
    if (!forms.length) return;
    const schema = await schemaOf(table);
    if (!schema || !schema.properties) return;
    for (const form of forms) {
      for (const [name, property] of Object.entries(schema.properties)) {
        const field = widgetSchema(property);
        if (!field) continue;
        const input = form.querySelector(`input[name="${CSS.escape(name)}"]`);
        if (!input || input.dataset.pgext) continue;
        input.dataset.pgext = field["x-widget"];
        if (field["x-widget"] === "map") mountMap(input, field, name);
        else if (field["x-widget"] === "timeseries" && /^#\/[^/]+\/[^/]+\/$/.test(location.hash) && !location.hash.endsWith("/add/")) {
          mountChart(input, field, name, form, table);
        }
      }
    }
  }

  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; scan(); });
  }).observe(document.body, { childList: true, subtree: true });
  window.addEventListener("hashchange", scan);
  scan();
})();

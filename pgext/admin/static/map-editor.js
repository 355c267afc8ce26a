// Map widget, editing side (leaflet-geoman).  Lossless: "Edit shape" fetches
// the row's stored geometry at full resolution with the row's version, the
// user edits that (undo per step, cancel), and "Save" sends the whole shape
// and the version back; the server refuses it (409) if the row changed in
// the meantime.  "Keep neighbours joined" snaps to other shapes and moves
// the vertices other rows share with a moved one.  A drawn shape opens a
// form of the row's fields: nothing is written before it is submitted.
"use strict";
(function () {
  const { config, api } = window.pgext;
  const view = window.pgextMapView;
  const { map, data, state, message } = view;
  if (!config.editable) {
    // The admin's rules: a read-only table gets no editing tools at all.
    message(`read-only: ${config.readOnlyReason}`);
    return;
  }
  const editor = { layer: null, id: null, version: null, history: [], steps: [] };
  state.busy = () => editor.layer !== null || draft.layer !== null;
  const draft = { layer: null };

  // Multi* columns take the single shapes geoman draws as one-part multis.
  function fitGeometry(geometry) {
    const type = view.spec().geometry_type;
    if (type === "Multi" + geometry.type) return { type, coordinates: [geometry.coordinates] };
    return geometry;
  }

  // -- the shape editor ------------------------------------------------------

  const isPoint = (layer) => layer instanceof L.CircleMarker;
  // The layer's vertices as nested [lng, lat] arrays (the exact numbers).
  function snapshot(layer) {
    const copy = (v) => (v instanceof L.LatLng ? [v.lng, v.lat] : v.map(copy));
    return isPoint(layer) ? copy(layer.getLatLng()) : copy(layer.getLatLngs());
  }
  function restore(layer, shot) {
    const back = (v) => (typeof v[0] === "number" ? L.latLng(v[1], v[0]) : v.map(back));
    if (isPoint(layer)) layer.setLatLng(back(shot)); else layer.setLatLngs(back(shot));
  }
  // Vertices that moved between two snapshots of the same structure.
  function moves(before, after) {
    if (typeof before[0] === "number") {
      return before[0] === after[0] && before[1] === after[1] ? [] : [[before, after]];
    }
    if (before.length !== after.length) return [];
    return before.flatMap((part, i) => moves(part, after[i]));
  }
  // One list of from -> to over all steps (a vertex moved twice counts once).
  function composed() {
    const result = [];
    for (const step of editor.steps) {
      for (const [from, to] of step) {
        const earlier = result.find((m) => m[1][0] === from[0] && m[1][1] === from[1]);
        if (earlier) earlier[1] = to; else result.push([from, to]);
      }
    }
    return result;
  }

  const joined = () => document.getElementById("joined").checked;
  const options = () => ({ snappable: joined(), snapDistance: 12, allowSelfIntersection: true });

  function buttons() {
    const p = document.createElement("p");
    p.className = "actions";
    p.id = "editor";
    const make = (id, label, action) => {
      const button = document.createElement("button");
      button.type = "button";
      button.id = id;
      button.textContent = label;
      button.addEventListener("click", action);
      p.append(button, " ");
      return button;
    };
    make("save-shape", "Save", save);
    make("undo-shape", "Undo", undo).disabled = true;
    make("cancel-shape", "Cancel", () => stop("edit cancelled: nothing was saved"));
    const label = document.createElement("label");
    label.innerHTML = "<input type='checkbox' id='joined'> Keep neighbours joined";
    label.title = "Snap to other shapes, and move the vertices other rows share with a moved one";
    p.append(label);
    return p;
  }

  function changed() {
    const shot = snapshot(editor.layer);
    editor.steps.push(moves(editor.history[editor.history.length - 1], shot));
    editor.history.push(shot);
    document.getElementById("undo-shape").disabled = false;
    message(`${editor.history.length - 1} unsaved change(s)`);
  }

  async function start(id) {
    if (state.busy()) return;
    let feature;
    try {
      feature = await api(`${config.api}/features/${encodeURIComponent(id)}?column=${encodeURIComponent(state.column)}`);
    } catch (error) {
      message(`cannot edit: ${error.message}`, true);
      return;
    }
    if (!feature.geometry) { message(`row ${id} has no ${state.column} to edit`, true); return; }
    // Hide the simplified shape; edit the stored one.
    data.eachLayer((layer) => { if (layer.pgextId === id) data.removeLayer(layer); });
    const layer = L.geoJSON(feature.geometry, {
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 8 }),
      style: () => ({ color: "#e8590c", weight: 3, fillColor: "#ff922b", fillOpacity: 0.35 }),
    }).getLayers()[0];
    layer.addTo(map);
    Object.assign(editor, { layer, id, version: feature.version, history: [snapshot(layer)], steps: [] });
    document.getElementById("editor-box").append(buttons());
    document.getElementById("joined").addEventListener("change", () => {
      layer.pm.disable();
      layer.pm.enable(options());
    });
    layer.pm.enable(options());
    layer.on("pm:edit", changed);
    document.getElementById("map").dataset.editing = String(id);
    message(`editing row ${id}: ${countVertices(editor.history[0])} vertices at full resolution`);
  }

  const countVertices = (c) => (typeof c[0] === "number" ? 1 : c.reduce((n, x) => n + countVertices(x), 0));

  function undo() {
    if (editor.history.length < 2) return;
    editor.history.pop();
    editor.steps.pop();
    editor.layer.pm.disable();
    restore(editor.layer, editor.history[editor.history.length - 1]);
    editor.layer.pm.enable(options());
    document.getElementById("undo-shape").disabled = editor.history.length < 2;
    message(`${editor.history.length - 1} unsaved change(s)`);
  }

  function stop(text, isError) {
    if (editor.layer) {
      editor.layer.pm.disable();
      map.removeLayer(editor.layer);
    }
    editor.layer = null;
    const panel = document.getElementById("editor");
    if (panel) panel.remove();
    delete document.getElementById("map").dataset.editing;
    message(text, isError);
    view.load();
  }

  async function save() {
    const geometry = fitGeometry(editor.layer.toGeoJSON(false).geometry);
    const body = { column: state.column, geometry, version: editor.version, joined: joined(), moves: joined() ? composed() : [] };
    try {
      const result = await api(`${config.api}/features/${encodeURIComponent(editor.id)}`, {
        method: "PATCH", body: JSON.stringify(body),
      });
      const others = result.joined.length ? ` and the shared vertices of row(s) ${result.joined.join(", ")}` : "";
      const id = editor.id;
      stop(`saved row ${id}${others}`);
      view.showRow(id);
    } catch (error) {
      // Stay in the editor: the user sees the refusal and may cancel.
      message(`not saved: ${error.message}`, true);
    }
  }

  // -- points: drag mode (a point is never simplified) ---------------------

  async function savePoint(layer) {
    const geometry = fitGeometry(layer.toGeoJSON(false).geometry);
    try {
      const result = await api(`${config.api}/features/${encodeURIComponent(layer.pgextId)}`, {
        method: "PATCH", body: JSON.stringify({ column: state.column, geometry, version: layer.pgextVersion }),
      });
      layer.pgextVersion = result.version;  // a second drag is not stale
      message(`saved row ${layer.pgextId}`);
    } catch (error) {
      message(`not saved: ${error.message}`, true);
    }
  }

  // -- drawing: a form of the row's fields before anything is written --------

  async function openForm(layer) {
    draft.layer = layer;
    let fields;
    try {
      fields = (await api(`${config.api}/form?column=${encodeURIComponent(state.column)}`)).fields;
    } catch (error) {
      discard(`cannot create: ${error.message}`, true);
      return;
    }
    view.clearRow();
    const form = document.createElement("form");
    form.id = "new-row";
    form.innerHTML = "<h2>New row</h2><p>Fill in the row, then create it. Nothing is saved before.</p>";
    const table = document.createElement("table");
    for (const field of fields) {
      const tr = table.insertRow();
      const th = document.createElement("th");
      const label = document.createElement("label");
      label.htmlFor = `field-${field.name}`;
      label.textContent = field.label + (field.required ? " *" : "");
      th.append(label);
      tr.append(th);
      tr.insertCell().append(input(field));
    }
    const actions = document.createElement("p");
    actions.className = "actions";
    actions.innerHTML = "<button type='submit' id='create-row'>Create row</button> <button type='button' id='discard-row'>Cancel</button>";
    form.append(table, actions);
    form.addEventListener("submit", (event) => { event.preventDefault(); create(form, fields); });
    document.getElementById("editor-box").append(form);
    actions.querySelector("#discard-row").addEventListener("click", () => discard("drawing discarded: nothing was saved"));
    const first = form.querySelector("input, select");
    if (first) first.focus();
  }

  function input(field) {
    let element;
    if (field.choices) {
      element = document.createElement("select");
      if (!field.required) element.add(new Option("", ""));
      for (const [key, choice] of Object.entries(field.choices)) {
        element.add(new Option(choice.display_name || key, choice.value ?? key));
      }
    } else {
      element = document.createElement("input");
      element.type = field.type === "boolean" ? "checkbox" : field.type !== "string" ? "number" : field.secret ? "password" : "text";
      if (field.type === "number") element.step = "any";
      if (field.maxLength) element.maxLength = field.maxLength;
      if (field.type === "boolean") element.checked = Boolean(field.default);
      else if (field.default !== null && field.default !== undefined) element.value = String(field.default);
    }
    element.id = `field-${field.name}`;
    element.name = field.name;
    element.required = field.required && field.type !== "boolean";
    return element;
  }

  async function create(form, fields) {
    const values = {};
    for (const field of fields) {
      const element = form.elements[field.name];
      if (field.type === "boolean") values[field.name] = element.checked;
      else if (element.value === "" && (field.nullable || !field.required)) continue;
      else if (field.type === "integer" || field.type === "number") values[field.name] = Number(element.value);
      else values[field.name] = element.value;
    }
    const geometry = fitGeometry(draft.layer.toGeoJSON(false).geometry);
    try {
      const result = await api(`${config.api}/features`, {
        method: "POST", body: JSON.stringify({ column: state.column, geometry, values }),
      });
      discard(`created row ${result.id}`);
      view.showRow(result.id);
    } catch (error) {
      message(`not created: ${error.message}`, true);
    }
  }

  function discard(text, isError) {
    if (draft.layer) map.removeLayer(draft.layer);
    draft.layer = null;
    const form = document.getElementById("new-row");
    if (form) form.remove();
    message(text, isError);
    view.load();
  }

  // -- wiring ----------------------------------------------------------------

  view.rowActions.push((actions, id) => {
    const add = (buttonId, label, action) => {
      const button = document.createElement("button");
      button.id = buttonId;
      button.type = "button";
      button.textContent = label;
      button.addEventListener("click", action);
      actions.append(" ", button);
    };
    add("edit-shape", "Edit shape", () => start(id));
    // Deleting the row obeys the admin's delete rules (validators, pre_delete hooks).
    add("delete-row", "Delete row", () => deleteRow(id));
  });

  async function deleteRow(id) {
    try {
      await api(`${config.api}/rows/${encodeURIComponent(id)}`, { method: "DELETE" });
      view.clearRow();
      message(`deleted row ${id}`);
      view.load();
    } catch (error) {
      message(`not deleted: ${error.message}`, true);
    }
  }

  // The usual keys while a shape is edited: Ctrl+Z (Cmd+Z) undoes a step,
  // Escape cancels the edit.
  document.addEventListener("keydown", (event) => {
    if (!editor.layer || event.target.closest("input, select, textarea")) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    } else if (event.key === "Escape") {
      stop("edit cancelled: nothing was saved");
    }
  });

  map.pm.setGlobalOptions({ continueDrawing: false, snappable: true, snapDistance: 12 });
  map.on("pm:create", (event) => {
    if (state.busy()) { map.removeLayer(event.layer); return; }
    openForm(event.layer);
  });
  map.on("pm:globaldragmodetoggled", (event) => { if (!event.enabled) view.load(); });
  map.on("pm:globalremovalmodetoggled", (event) => { if (!event.enabled) view.load(); });
  map.on("pm:remove", async (event) => {
    const id = event.layer.pgextId;
    if (id === undefined) return;
    try {
      await api(`${config.api}/features/${encodeURIComponent(id)}?column=${encodeURIComponent(state.column)}`, { method: "DELETE" });
      message(`cleared the geometry of row ${id}`);
    } catch (error) {
      message(`not deleted: ${error.message}`, true);
      view.load();
    }
  });
  data.on("layeradd", (event) => {
    event.layer.on("pm:dragend", () => savePoint(event.layer));
  });

  function tools() {
    const type = view.spec().geometry_type.replace(/^Multi/, "");
    const any = type === "Geometry" || type === "GeometryCollection";
    const point = type === "Point";
    map.pm.addControls({
      position: "topleft",
      drawMarker: false,
      drawCircle: false,
      drawText: false,
      cutPolygon: false,
      rotateMode: false,
      // Shapes are edited one at a time at full resolution ("Edit shape");
      // the global modes would edit the simplified display.  Points are
      // never simplified, so dragging them in place stays.
      editMode: false,
      dragMode: point,
      drawCircleMarker: any || point,
      drawPolyline: any || type === "LineString",
      drawPolygon: any || type === "Polygon",
      drawRectangle: any || type === "Polygon",
    });
  }
  view.columnChanged = [() => { map.pm.removeControls(); tools(); }];
  tools();
})();

// The labelled graticule of the form's maps.  Without tiles (offline, the
// default) a map of a small place would be a blank square: the lines and
// their degrees say where it is and how large.  The lines are drawn on grid
// tiles; the labels are not, as a label drawn on every tile would repeat
// along each row and column of tiles: each line in view is labelled once,
// parallels along the view's left edge, meridians along its bottom edge.
"use strict";
(function () {
  const NICE = [0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45];
  // About three lines across a 256-pixel tile at zoom z.
  function stepAt(z) { return NICE.find((n) => n >= (360 / 2 ** z) / 3) || 45; }
  function digitsOf(step) { return Math.max(0, -Math.floor(Math.log10(step))); }
  // The multiples of step from below to above (exclusive), without the
  // drift that adding step again and again would bring.
  function multiples(step, from, to) {
    const values = [];
    for (let i = Math.ceil(from / step); i * step < to; i += 1) values.push(i * step);
    return values;
  }

  const Lines = L.GridLayer.extend({
    createTile(coords) {
      const size = this.getTileSize();
      const tile = document.createElement("canvas");
      tile.width = size.x; tile.height = size.y;
      const ctx = tile.getContext("2d");
      const map = this._map, z = coords.z, origin = coords.scaleBy(size);
      const nw = map.unproject(origin, z), se = map.unproject(origin.add(size), z);
      const step = stepAt(z);
      ctx.strokeStyle = "rgba(60, 80, 110, 0.25)";
      for (const lng of multiples(step, nw.lng, se.lng)) {
        const x = map.project([nw.lat, lng], z).x - origin.x;
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, size.y); ctx.stroke();
      }
      for (const lat of multiples(step, se.lat, nw.lat)) {
        const y = map.project([lat, nw.lng], z).y - origin.y;
        ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(size.x, y); ctx.stroke();
      }
      return tile;
    },
  });

  // Above the lines, under the shapes; a pane moves with the map while it
  // is dragged, so the labels are placed again only once per move event.
  const PANE = "pgext-graticule-labels";
  const Labels = L.Layer.extend({
    onAdd(map) {
      const pane = map.getPane(PANE) || map.createPane(PANE);
      pane.style.zIndex = 250;
      pane.style.pointerEvents = "none";
      this._box = L.DomUtil.create("div", "pgext-graticule", pane);
      map.on("move zoomend viewreset resize", this._place, this);
      this._place();
    },
    onRemove(map) {
      map.off("move zoomend viewreset resize", this._place, this);
      this._box.remove();
    },
    _place() {
      const map = this._map, size = map.getSize(), bounds = map.getBounds();
      // The lines' zoom: the grid's tiles are drawn at whole zoom levels.
      const step = stepAt(Math.round(map.getZoom()));
      const digits = digitsOf(step), centre = bounds.getCenter();
      const box = this._box;
      box.replaceChildren();
      // A label goes where no control (zoom buttons, drawing tools,
      // attribution) covers it: the first such of its places.
      const container = map.getContainer(), origin = container.getBoundingClientRect();
      const controls = [...container.querySelectorAll(".leaflet-control")].map((c) => {
        const r = c.getBoundingClientRect();
        return { left: r.left - origin.left, right: r.right - origin.left, top: r.top - origin.top, bottom: r.bottom - origin.top };
      });
      const covered = (left, top, w, h) => controls.some((c) => left < c.right && left + w > c.left && top < c.bottom && top + h > c.top);
      function label(axis, value, places) {
        const node = L.DomUtil.create("div", "pgext-graticule-label", box);
        node.dataset.axis = axis;
        node.textContent = `${value.toFixed(digits)}°`;
        const w = node.offsetWidth, h = node.offsetHeight;
        const [left, top] = places(w, h).find(([x, y]) => !covered(x, y, w, h)) || places(w, h)[0];
        const at = map.containerPointToLayerPoint([left, top]);
        node.style.left = `${at.x}px`; node.style.top = `${at.y}px`;
      }
      for (const lat of multiples(step, bounds.getSouth(), bounds.getNorth())) {
        const y = map.latLngToContainerPoint([lat, centre.lng]).y;
        if (y <= 0 || y >= size.y) continue;
        // Along the left edge, else the right; above the line unless the
        // view's top would cut it.
        label("lat", lat, (w, h) => {
          const top = y - h - 1 >= 0 ? y - h - 1 : y + 2;
          return [[2, top], [size.x - 2 - w, top]];
        });
      }
      for (const lng of multiples(step, bounds.getWest(), bounds.getEast())) {
        const x = map.latLngToContainerPoint([centre.lat, lng]).x;
        if (x <= 0 || x >= size.x) continue;
        // Along the bottom edge, else the top; right of the line unless the
        // view's side would cut it.
        label("lng", lng, (w, h) => {
          const left = x + 2 + w <= size.x - 2 ? x + 2 : x - 2 - w;
          return [[left, size.y - 2 - h], [left, 2]];
        });
      }
    },
  });

  // Lines and labels on ``map``, up to ``maxZoom``.
  window.pgextGraticule = function (map, maxZoom) {
    new Lines({ maxZoom }).addTo(map);
    new Labels().addTo(map);
  };
})();

// Copies the front-end libraries the widgets use from node_modules (installed
// from the npm registry by `npm ci`) into ../static/vendor, which the widgets
// app serves itself: no CDN at run time.  Idempotent: unchanged files are
// skipped, so re-running is instant.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "static", "vendor");

// [source under node_modules, destination under static/vendor]
const files = [
  ["leaflet/dist/leaflet.js", "leaflet/leaflet.js"],
  ["leaflet/dist/leaflet.css", "leaflet/leaflet.css"],
  ["leaflet/dist/images/layers.png", "leaflet/images/layers.png"],
  ["leaflet/dist/images/layers-2x.png", "leaflet/images/layers-2x.png"],
  ["leaflet/dist/images/marker-icon.png", "leaflet/images/marker-icon.png"],
  ["leaflet/dist/images/marker-icon-2x.png", "leaflet/images/marker-icon-2x.png"],
  ["leaflet/dist/images/marker-shadow.png", "leaflet/images/marker-shadow.png"],
  ["@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js", "geoman/leaflet-geoman.min.js"],
  ["@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css", "geoman/leaflet-geoman.css"],
  ["uplot/dist/uPlot.iife.min.js", "uplot/uPlot.iife.min.js"],
  ["uplot/dist/uPlot.min.css", "uplot/uPlot.min.css"],
];

let copied = 0;
for (const [source, destination] of files) {
  const from = join(here, "node_modules", source);
  const to = join(target, destination);
  if (!existsSync(from)) {
    console.error(`missing ${from}: run npm ci in ${here}`);
    process.exit(1);
  }
  if (existsSync(to) && statSync(to).size === statSync(from).size &&
      readFileSync(to).equals(readFileSync(from))) {
    continue;
  }
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied += 1;
}
console.log(`pgext admin: ${copied} of ${files.length} vendor files copied to ${target}`);

// Copies the front-end libraries the widgets use from node_modules (installed
// from the npm registry by `npm ci`) into pgext/admin/static/vendor, which the
// widgets app serves itself: no CDN at run time.  Runs in the checkout
// (scripts/setup) and when a distribution is built (buildtools/pgext_build.py),
// never on a user's machine: the sdist and the wheel carry the copies.
// Each library's licence goes with it, and vendor/versions.json records what
// was copied and from which lock file, so a build can tell the copies are
// current.  Idempotent: unchanged files are skipped.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "pgext", "admin", "static", "vendor");

// package -> [[source under the package, destination under static/vendor]]
const libraries = {
  leaflet: [
    ["dist/leaflet.js", "leaflet/leaflet.js"],
    ["dist/leaflet.css", "leaflet/leaflet.css"],
    ["dist/images/layers.png", "leaflet/images/layers.png"],
    ["dist/images/layers-2x.png", "leaflet/images/layers-2x.png"],
    ["dist/images/marker-icon.png", "leaflet/images/marker-icon.png"],
    ["dist/images/marker-icon-2x.png", "leaflet/images/marker-icon-2x.png"],
    ["dist/images/marker-shadow.png", "leaflet/images/marker-shadow.png"],
    ["LICENSE", "leaflet/LICENSE"],
  ],
  "@geoman-io/leaflet-geoman-free": [
    ["dist/leaflet-geoman.min.js", "geoman/leaflet-geoman.min.js"],
    ["dist/leaflet-geoman.css", "geoman/leaflet-geoman.css"],
    ["LICENSE", "geoman/LICENSE"],
  ],
  // Natural Earth country outlines (public domain), the map's offline basemap.
  "world-atlas": [
    ["countries-50m.json", "world-atlas/countries-50m.json"],
    ["LICENSE", "world-atlas/LICENSE"],
  ],
  "topojson-client": [
    ["dist/topojson-client.min.js", "topojson-client/topojson-client.min.js"],
    ["LICENSE", "topojson-client/LICENSE"],
  ],
  uplot: [
    ["dist/uPlot.iife.min.js", "uplot/uPlot.iife.min.js"],
    ["dist/uPlot.min.css", "uplot/uPlot.min.css"],
    ["LICENSE", "uplot/LICENSE"],
  ],
};

const lock = readFileSync(join(here, "package-lock.json"));
const versions = {
  lock_sha256: createHash("sha256").update(lock).digest("hex"),
  packages: {},
  files: [],
};
let copied = 0;
for (const [name, files] of Object.entries(libraries)) {
  const root = join(here, "node_modules", name);
  const manifest = join(root, "package.json");
  if (!existsSync(manifest)) {
    console.error(`missing ${root}: run npm ci in ${here}`);
    process.exit(1);
  }
  const info = JSON.parse(readFileSync(manifest, "utf8"));
  versions.packages[name] = { version: info.version, license: info.license };
  for (const [source, destination] of files) {
    const from = join(root, source);
    const to = join(target, destination);
    versions.files.push(destination);
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
}
const stamp = join(target, "versions.json");
const text = JSON.stringify(versions, null, 2) + "\n";
if (!existsSync(stamp) || readFileSync(stamp, "utf8") !== text) {
  writeFileSync(stamp, text);
}
// Say what happened: an up-to-date copy is the usual case, not a failure.
const total = versions.files.length;
const current = total - copied;
const parts = [];
if (copied) parts.push(`${copied} vendor file${copied === 1 ? "" : "s"} copied`);
if (current) parts.push(`${current} ${copied ? "already " : ""}up to date`);
const summary = copied ? parts.join(", ") : `all ${total} vendor files already up to date`;
console.log(`pgext admin: ${summary} in ${target}`);

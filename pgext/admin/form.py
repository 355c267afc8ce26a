"""Maps (and charts) inside Piccolo Admin's own add/edit forms.

Piccolo Admin renders a geometry field as a one-line text box.  Its page is
a Vue app that builds each row form from the table's JSON schema; a field
whose schema carries ``x-widget: map`` (every pgext geometry column) gets,
through ``static/form.js``, a small Leaflet map right under its input:

* ``x-editor: location`` (default for Point columns): click to place the
  point, drag it to move;
* ``x-editor: box``: draw a rectangle;
* ``x-editor: shape``: draw the column's geometry type;

and the map writes GeoJSON text back into the input, which the admin submits
unchanged (its API validates it with the column's pydantic type).  An "Edit
as text" button shows the input again.  A time-series table's time column
(``x-widget: timeseries``, :func:`pgext.widgets.annotate`) gets a small chart
of the row's series around the row's time.

How the script gets into the admin's page: a loader (inline, a few hundred
bytes) is appended to the page the admin serves (:func:`pgext.seam.
admin_page_append`).  The widgets' static files require the admin's login,
so the loader waits until the user is logged in (the widgets' API answers)
before adding the scripts; the single-page app logs in without reloading.
"""

from __future__ import annotations

import json
from typing import Any

from pgext import seam

#: What the loader adds, in order (paths under the widgets' ``static/``).
STYLES = (
    "vendor/leaflet/leaflet.css",
    "vendor/geoman/leaflet-geoman.css",
    "vendor/uplot/uPlot.min.css",
    "form.css",
)
SCRIPTS = (
    "vendor/leaflet/leaflet.js",
    "vendor/geoman/leaflet-geoman.min.js",
    "vendor/uplot/uPlot.iife.min.js",
    "vendor/topojson-client/topojson-client.min.js",
    "graticule.js",
    "form.js",
)
#: The offline basemap's country outlines (the map page uses the same file).
BASEMAP = "vendor/world-atlas/countries-50m.json"

# Plain ES5 on purpose: it runs in whatever the admin's page supports, and
# does nothing until a logged-in user's page can load the real scripts.
_LOADER = """<script data-pgext-form>(function(c){var state=0;
function go(){if(state||/^#\\/login/.test(location.hash))return;state=1;
fetch(c.widgets+"/api/widgets",{credentials:"same-origin"}).then(function(r){
if(!r.ok){state=0;return;}state=2;window.pgextForm=c;
c.styles.forEach(function(h){var l=document.createElement("link");
l.rel="stylesheet";l.href=c.static+"/"+h;document.head.appendChild(l);});
(function next(i){if(i>=c.scripts.length)return;
var s=document.createElement("script");s.src=c.static+"/"+c.scripts[i];
s.onload=function(){next(i+1);};document.head.appendChild(s);})(0);
},function(){state=0;});}
window.addEventListener("hashchange",go);go();})(CONFIG);</script>"""


def form_config(
    base: str,
    admin_path: str,
    *,
    tile_url: str | None = None,
    tile_attribution: str = "",
) -> dict[str, Any]:
    """What ``form.js`` reads (``window.pgextForm``)."""
    return {
        "widgets": base,
        "static": f"{base}/static",
        "admin": admin_path.rstrip("/"),
        "tileUrl": tile_url,
        "tileAttribution": tile_attribution,
        "basemap": None if tile_url else f"{base}/static/{BASEMAP}",
        "styles": list(STYLES),
        "scripts": list(SCRIPTS),
    }


def loader_html(config: dict[str, Any]) -> str:
    """The inline ``<script>`` that loads the form widgets."""
    # "</" cannot end the script early once escaped.
    data = json.dumps(config).replace("</", "<\\/")
    return _LOADER.replace("CONFIG", data)


def install(admin: Any, config: dict[str, Any]) -> bool:
    """Add the form widgets to ``admin`` (a ``create_admin(...)`` app).
    Returns False when its page could not take them (then the admin's own
    text boxes stay, and nothing else changes)."""
    return seam.admin_page_append(admin, loader_html(config))

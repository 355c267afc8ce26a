"""The widgets' HTML pages: small shells that load the vendored libraries
and the widgets' own scripts from ``static/``; the configuration is JSON in a
``data-config`` attribute, escaped for HTML."""

from __future__ import annotations

import html
import json
from typing import Any

from pgext.admin.form import BASEMAP


def _shell(
    base: str,
    admin_path: str,
    title: str,
    body: str,
    css: list[str],
    js: list[str],
    config: dict[str, Any],
) -> str:
    links = "".join(
        f'<link rel="stylesheet" href="{base}/static/{name}">' for name in css
    )
    scripts = "".join(f'<script src="{base}/static/{name}"></script>' for name in js)
    data = html.escape(json.dumps(config), quote=True)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        f'<link rel="stylesheet" href="{base}/static/widgets.css">{links}</head>'
        f'<body data-config="{data}"><header><a href="{html.escape(admin_path)}">'
        f'&larr; Admin</a> <a href="{base}/">Widgets</a> '
        f"<h1>{html.escape(title)}</h1></header>"
        f"{body}{scripts}</body></html>"
    )


def index(base: str, admin_path: str, links: dict[str, str]) -> str:
    items = "".join(
        f'<li><a href="{html.escape(url)}">{html.escape(label)}</a></li>'
        for label, url in links.items()
    )
    return _shell(
        base,
        admin_path,
        "pgext widgets",
        f"<main><ul class='index'>{items}</ul></main>",
        [],
        [],
        {},
    )


def map_page(
    base: str,
    admin_path: str,
    table: str,
    maps: list[dict[str, Any]],
    *,
    tile_url: str | None,
    tile_attribution: str,
    max_features: int,
    read_only_reason: str | None = None,
) -> str:
    config = {
        "api": f"{base}/api/map/{table}",
        # No editing tools when the admin's rules make the table read-only.
        "editable": read_only_reason is None,
        "readOnlyReason": read_only_reason,
        "table": table,
        "maps": maps,
        "tileUrl": tile_url,
        "tileAttribution": tile_attribution,
        "maxFeatures": max_features,
        "adminPath": admin_path,
        "static": f"{base}/static",
        # Natural Earth outlines when there are no tiles: works offline.
        "basemap": None if tile_url else f"{base}/static/{BASEMAP}",
    }
    preload = ""
    if not tile_url:
        href = f"{base}/static/{BASEMAP}"
        preload = f"<link rel='preload' href='{href}' as='fetch' crossorigin>"
    body = (
        f"{preload}<main class='map'><div id='map'></div><aside id='panel'>"
        "<label>Geometry column <select id='column'></select></label>"
        "<p id='status'>loading…</p><p id='message' role='status'></p>"
        "<div id='editor-box'></div>"
        "<div id='row'><p>Click a feature to see its row.</p></div>"
        "</aside></main>"
    )
    return _shell(
        base,
        admin_path,
        f"Map: {table}",
        body,
        ["vendor/leaflet/leaflet.css", "vendor/geoman/leaflet-geoman.css"],
        [
            "vendor/leaflet/leaflet.js",
            "vendor/geoman/leaflet-geoman.min.js",
            "vendor/topojson-client/topojson-client.min.js",
            "common.js",
            "map.js",
            "map-editor.js",
        ],
        config,
    )


def series_page(
    base: str,
    admin_path: str,
    table: str,
    series: dict[str, Any],
    *,
    aggregates: list[str],
    max_points: int,
    default_points: int,
) -> str:
    config = {
        "api": f"{base}/api/series/{table}",
        "live": f"{base}/api/live/sse/{table}",
        "table": table,
        "series": series,
        "aggregates": aggregates,
        "maxPoints": max_points,
        "defaultPoints": default_points,
    }
    body = (
        "<main class='series'><form id='controls'>"
        "<label>Value <select id='value'></select></label>"
        "<label>Series <select id='key'></select></label>"
        "<label>Only <input id='keys' placeholder='keys, comma-separated' "
        "title='empty: the most recently active series'></label>"
        "<label>Aggregate <select id='agg'></select></label>"
        "<label>From <input id='start' type='datetime-local' step='1'></label>"
        "<label>To <input id='end' type='datetime-local' step='1'></label>"
        "<label>Points <input id='points' type='number' min='2'></label>"
        "<button type='submit'>Show</button></form>"
        "<p id='status'>loading…</p><div id='chart'></div>"
        "<p id='live'>live: connecting…</p><ol id='events'></ol></main>"
    )
    return _shell(
        base,
        admin_path,
        f"Chart: {table}",
        body,
        ["vendor/uplot/uPlot.min.css"],
        ["vendor/uplot/uPlot.iife.min.js", "common.js", "series.js"],
        config,
    )

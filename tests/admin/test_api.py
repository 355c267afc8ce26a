"""The widgets' HTTP API against the real database: session and CSRF
checks, map features/clusters, saves, series buckets, and refusals of bad
input with nothing written."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import httpx
import pytest
import shapely

from pgext.engine import PgextEngine
from tests.admin.conftest import AdmArea, AdmReading, AdmShop, csrf

pytestmark = pytest.mark.postgres

FEATURES = "/widgets/api/map/adm_shop/features"
SERIES = "/widgets/api/series/adm_reading"
PARIS = {"bbox": "2,48,3,49", "zoom": "10"}


# -- session and CSRF ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        FEATURES + "?bbox=2,48,3,49",
        "/widgets/api/map/adm_shop/rows/1",
        SERIES,
        SERIES + "/extent",
        "/widgets/api/widgets",
        "/widgets/api/live/sse/adm_reading",
        "/widgets/static/map.js",
    ],
)
async def test_anonymous_api_requests_get_401(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    response = await anonymous.get(path)
    if path.startswith("/widgets/static"):
        # Not an API: the browser is sent to the admin's login instead.
        assert response.status_code == 303
    else:
        assert response.status_code == 401
        assert "login required" in response.json()["error"]


async def test_anonymous_pages_redirect_to_the_admin_login(
    anonymous: httpx.AsyncClient,
) -> None:
    for page in ("/widgets/", "/widgets/map/adm_shop", "/widgets/series/adm_reading"):
        response = await anonymous.get(page)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/#/login/"


async def test_anonymous_writes_get_401_and_write_nothing(
    anonymous: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    body = {"geometry": {"type": "Point", "coordinates": [1, 2]}}
    assert (await anonymous.post(FEATURES, json=body)).status_code == 401
    assert (await anonymous.put(FEATURES + "/1", json=body)).status_code == 401
    assert (await anonymous.delete(FEATURES + "/1")).status_code == 401
    assert await AdmShop.count() == 5


async def test_writes_without_the_csrf_token_get_403(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    body = {"geometry": {"type": "Point", "coordinates": [1, 2]}}
    assert (await client.post(FEATURES, json=body)).status_code == 403
    wrong = {"X-CSRFToken": "not-the-token"}
    assert (
        await client.put(FEATURES + "/1", json=body, headers=wrong)
    ).status_code == 403
    assert (await client.delete(FEATURES + "/1")).status_code == 403
    assert await AdmShop.count() == 5
    first = await AdmShop.select().where(AdmShop.id == 1).first()
    assert first is not None and first["location"] is not None


async def test_the_admin_sidebar_lists_the_widget_pages(
    client: httpx.AsyncClient,
) -> None:
    links = (await client.get("/admin/api/links/")).json()
    assert links["Map: adm_shop"] == "/widgets/map/adm_shop"
    assert links["Map: adm_area"] == "/widgets/map/adm_area"
    assert links["Chart: adm_reading"] == "/widgets/series/adm_reading"


async def test_piccolo_admin_still_serves_the_tables(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    rows = (await client.get("/admin/api/tables/adm_shop/?__order=id")).json()["rows"]
    assert len(rows) == 5
    assert shapely.from_geojson(rows[0]["location"]).equals(shapely.Point(2.3, 48.85))
    schema = (await client.get("/admin/api/tables/adm_shop/schema/")).json()
    location = schema["properties"]["location"]["anyOf"][0]
    assert location["x-widget"] == "map" and location["x-srid"] == 4326
    readings = (await client.get("/admin/api/tables/adm_reading/?__order=id")).json()
    assert readings["rows"][0]["ts"].startswith("2026-01-01T00:00:00")
    schema = (await client.get("/admin/api/tables/adm_reading/schema/")).json()
    ts = schema["properties"]["ts"]["anyOf"][0]
    assert ts == {
        "type": "string",
        "format": "date-time",
        "x-widget": "timeseries",
        "x-value-columns": ["value"],
        "x-series-keys": ["device"],
        "x-hypertable": False,
    }
    assert schema["properties"]["ts"]["extra"]["widget"] == "timestamptz"


async def test_piccolo_admin_saves_geometry_as_geojson_text(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    response = await client.post(
        "/admin/api/tables/adm_shop/",
        json={"name": "via admin", "location": '{"type":"Point","coordinates":[1,2]}'},
        headers=csrf(client),
    )
    assert response.status_code == 201, response.text
    row = await AdmShop.select().where(AdmShop.name == "via admin").first()
    assert row is not None and row["location"].equals(shapely.Point(1, 2))


# -- map ---------------------------------------------------------------------------


async def test_features_in_view_are_geojson_built_in_sql(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    response = await client.get(FEATURES, params=PARIS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    data = response.json()
    assert data["pgext"] == {"mode": "features", "count": 5}
    assert [f["id"] for f in data["features"]] == [1, 2, 3, 4, 5]
    assert data["features"][0]["properties"]["label"] == "shop 0"
    assert data["features"][0]["geometry"] == {
        "type": "Point",
        "coordinates": [2.3, 48.85],
    }
    elsewhere = await client.get(FEATURES, params={"bbox": "10,10,11,11"})
    assert elsewhere.json()["features"] == []


async def test_more_rows_than_the_cap_come_as_clusters(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    async with seeded.connection() as conn:
        await conn.execute(
            "INSERT INTO adm_shop (name, location) SELECT 'bulk', "
            "ST_SetSRID(ST_MakePoint(-5 + (g % 100) * 0.1, 40 + (g / 100) * 0.1), "
            "4326) "
            "FROM generate_series(0, 999) g"
        )
    data = (await client.get(FEATURES, params={"bbox": "-10,35,10,55"})).json()
    assert data["pgext"]["mode"] == "clusters"
    assert data["pgext"]["count"] == 1005
    assert sum(f["properties"]["count"] for f in data["features"]) == 1005
    assert all(f["properties"]["cluster"] for f in data["features"])
    # A limit below the cap is honoured too.
    small = (await client.get(FEATURES, params={**PARIS, "limit": "3"})).json()
    assert small["pgext"]["mode"] == "clusters"


async def test_polygons_in_another_srid_are_simplified_and_in_lon_lat(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    square = shapely.Polygon(
        [
            (0, 0),
            (100000, 0),
            (100010, 50000),
            (100000, 100000),
            (0, 100000),
            (0, 0),
        ]
    )
    await AdmArea.insert(AdmArea(name="square", outline=shapely.set_srid(square, 3857)))
    path = "/widgets/api/map/adm_area/features"
    near = (await client.get(path, params={"bbox": "-1,-1,2,2", "zoom": "18"})).json()
    far = (await client.get(path, params={"bbox": "-1,-1,2,2", "zoom": "2"})).json()
    ring = near["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 6
    assert max(x for x, _ in ring) == pytest.approx(0.898405, abs=1e-5)
    # Simplified at low zoom: the collinear vertex is gone.
    assert len(far["features"][0]["geometry"]["coordinates"][0]) == 5


async def test_map_extent_opens_the_map_where_the_rows_are(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    box = (await client.get("/widgets/api/map/adm_shop/extent")).json()["bbox"]
    assert box == [
        pytest.approx(v, abs=1e-4) for v in (2.30, 48.85, 2.34, 48.85)
    ]  # box2d: float4
    async with seeded.connection() as conn:
        await conn.execute("ANALYZE adm_shop")
    estimated = (await client.get("/widgets/api/map/adm_shop/extent")).json()["bbox"]
    assert estimated[0] <= 2.30 and estimated[2] >= 2.34
    empty = (await client.get("/widgets/api/map/adm_area/extent")).json()
    assert empty == {"bbox": None}


async def test_a_feature_links_to_its_admin_edit_page(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    data = (await client.get("/widgets/api/map/adm_shop/rows/2")).json()
    assert data["admin_url"] == "/admin/#/adm_shop/2/"
    assert data["row"]["name"] == "shop 1"
    assert "pin" not in data["row"]  # secret=True columns are never sent
    point = shapely.from_geojson(data["row"]["location"])
    assert (point.x, point.y) == (pytest.approx(2.31), pytest.approx(48.85))
    missing = await client.get("/widgets/api/map/adm_shop/rows/999")
    assert missing.status_code == 404


async def test_create_move_and_clear_a_geometry(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    created = await client.post(
        FEATURES,
        json={"geometry": {"type": "Point", "coordinates": [2.5, 48.9]}},
        headers=csrf(client),
    )
    assert created.status_code == 201
    new_id = created.json()["id"]
    row = await AdmShop.select().where(AdmShop.id == new_id).first()
    assert row is not None and row["location"].equals(shapely.Point(2.5, 48.9))

    moved = await client.put(
        f"{FEATURES}/{new_id}",
        json={
            "column": "location",
            "geometry": {"type": "Point", "coordinates": [3, 49]},
        },
        headers=csrf(client),
    )
    assert moved.status_code == 200
    row = await AdmShop.select().where(AdmShop.id == new_id).first()
    assert row is not None and row["location"].equals(shapely.Point(3, 49))

    cleared = await client.delete(f"{FEATURES}/{new_id}", headers=csrf(client))
    assert cleared.status_code == 200
    row = await AdmShop.select().where(AdmShop.id == new_id).first()
    assert row is not None and row["location"] is None


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (
            {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
            400,
            "invalid geometry",
        ),
        (
            {"geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
            400,
            "invalid geometry",
        ),
        ({"geometry": {"type": "Point"}}, 400, "invalid geometry"),
        (
            {"geometry": {"type": "Point", "coordinates": [math.nan, 1]}},
            400,
            "finite",
        ),
        ({"geometry": "POINT(1 -inf)"}, 400, "finite"),
        ({"geometry": "not geojson"}, 400, "invalid geometry"),
        ({"geometry": None}, 400, "must not be null"),
        ({"geometry": 5}, 400, "GeoJSON"),
        ({}, 400, '"geometry"'),
        ([1, 2], 400, "JSON object"),
        (
            {"column": "name", "geometry": {"type": "Point", "coordinates": [1, 1]}},
            400,
            "not a geometry column",
        ),
        (
            {"column": "nope", "geometry": {"type": "Point", "coordinates": [1, 1]}},
            400,
            "not a geometry column",
        ),
    ],
)
async def test_invalid_saves_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
    seeded: PgextEngine,
    body: object,
    status: int,
    says: str,
) -> None:
    before = await AdmShop.select().order_by(AdmShop.id)
    for method, url in (("POST", FEATURES), ("PUT", FEATURES + "/1")):
        # json.dumps writes NaN as the token Python's json (the server) reads.
        response = await client.request(
            method,
            url,
            content=json.dumps(body),
            headers={**csrf(client), "content-type": "application/json"},
        )
        assert response.status_code == status, response.text
        assert says in response.json()["error"]
    assert await AdmShop.select().order_by(AdmShop.id) == before


async def test_oversized_and_unparseable_bodies_are_refused(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    huge = b'{"geometry": "' + b"x" * 1_100_000 + b'"}'
    response = await client.post(FEATURES, content=huge, headers=csrf(client))
    assert response.status_code == 413
    response = await client.post(FEATURES, content=b"{not json", headers=csrf(client))
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    missing = await client.put(
        FEATURES + "/999",
        json={"geometry": {"type": "Point", "coordinates": [1, 1]}},
        headers=csrf(client),
    )
    assert missing.status_code == 404
    bad_pk = await client.put(
        FEATURES + "/abc",
        json={"geometry": {"type": "Point", "coordinates": [1, 1]}},
        headers=csrf(client),
    )
    assert bad_pk.status_code == 400
    assert await AdmShop.count() == 5


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "'bbox'"),
        ({"bbox": "1,2,3"}, "four numbers"),
        ({"bbox": "a,b,c,d"}, "numbers"),
        ({"bbox": "nan,0,1,1"}, "finite"),
        ({"bbox": "3,0,1,1"}, "west <= east"),
        ({"bbox": "-200,-10,200,10"}, "outside the world"),
        ({"bbox": "0,-95,1,1"}, "outside the world"),
        ({"bbox": "1," * 100 + "1"}, "too long"),
        ({"bbox": "0,0,1,1", "limit": "51"}, "between 1 and 50"),
        ({"bbox": "0,0,1,1", "limit": "0"}, "between 1 and 50"),
        ({"bbox": "0,0,1,1", "zoom": "x"}, "integer"),
        ({"bbox": "0,0,1,1", "column": "name"}, "not a geometry column"),
    ],
)
async def test_bad_map_requests_get_400(
    client: httpx.AsyncClient, params: dict[str, str], says: str
) -> None:
    response = await client.get(FEATURES, params=params)
    assert response.status_code == 400
    assert says in response.json()["error"]


async def test_unknown_tables_get_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/widgets/api/map/nope/features?bbox=0,0,1,1",
        "/widgets/api/series/nope",
        "/widgets/api/map/adm_reading/features?bbox=0,0,1,1",
        "/widgets/map/nope",
    ):
        response = await client.get(path)
        assert response.status_code == 404
        assert (
            "nope" in response.json()["error"] or "no map" in response.json()["error"]
        )


# -- series ------------------------------------------------------------------------


async def test_series_are_bucketed_per_key(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    data = (
        await client.get(
            SERIES,
            params={
                "key": "device",
                "agg": "count",
                "start": "2026-01-01T00:00:00Z",
                "end": "2026-01-02T00:00:00Z",
                "points": "24",
            },
        )
    ).json()
    assert data["width_seconds"] == 3600
    assert data["sampled_percent"] is None
    assert len(data["buckets"]) == 24
    assert data["buckets"][0] == datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    assert [s["key"] for s in data["series"]] == ["dev0", "dev1"]
    assert all(v == 30 for s in data["series"] for v in s["values"])
    avg = (await client.get(SERIES, params={"points": "2000"})).json()
    # 1440 one-minute rows over a day: one-minute buckets, value = g % 60.
    assert len(avg["buckets"]) == 1440
    assert avg["series"][0]["values"][:3] == [0, 1, 2]


async def test_series_limit_the_points(
    client: httpx.AsyncClient, seeded: PgextEngine
) -> None:
    data = (await client.get(SERIES, params={"points": "10"})).json()
    assert len(data["buckets"]) <= 11
    assert sum(1 for _ in data["series"]) == 1


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"value": "nope"}, "not a column"),
        ({"value": "device"}, "not a numeric column"),
        ({"key": "nope"}, "not a column"),
        ({"time": "value"}, "time must be 'ts'"),
        ({"agg": "median"}, "agg must be one of"),
        ({"points": "100000"}, "between 2 and 2000"),
        ({"series": "11"}, "between 1 and 10"),
        ({"start": "yesterday"}, "ISO 8601"),
        ({"start": "2026-01-02", "end": "2026-01-01"}, "end must be after start"),
    ],
)
async def test_bad_series_requests_get_400(
    client: httpx.AsyncClient, params: dict[str, str], says: str
) -> None:
    response = await client.get(SERIES, params=params)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]


async def test_series_extent(client: httpx.AsyncClient, seeded: PgextEngine) -> None:
    data = (await client.get(SERIES + "/extent")).json()
    assert data == {
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-01T23:59:00+00:00",
    }


async def test_large_ranges_are_sampled_and_say_so(
    client: httpx.AsyncClient, seeded: PgextEngine, widget_app: object
) -> None:
    from pgext.admin.series import SeriesLimits

    widgets = widget_app[1]  # type: ignore[index]
    before = widgets.options.series
    widgets.options.series = SeriesLimits(exact_rows=100, sample_rows=50)
    try:
        async with seeded.connection() as conn:
            await conn.execute("ANALYZE adm_reading")
        data = (await client.get(SERIES, params={"agg": "count", "points": "4"})).json()
    finally:
        widgets.options.series = before
    assert data["sampled_percent"] is not None
    assert 0 < data["sampled_percent"] < 50
    assert await AdmReading.count() == 1440


async def test_views_that_cannot_be_sampled_are_read_exactly(
    seeded: PgextEngine, session_token: str
) -> None:
    from piccolo.columns import DoublePrecision, Timestamptz, Varchar
    from piccolo.table import Table
    from starlette.applications import Starlette

    from pgext import seam
    from pgext.admin import SeriesLimits, create_widgets_app

    class AdmReadingView(Table, tablename="adm_reading_view"):
        ts = Timestamptz()
        device = Varchar(length=20)
        value = DoublePrecision()

    seam.bind_engine(AdmReadingView, seeded)
    async with seeded.connection() as conn:
        await conn.execute("ANALYZE adm_reading")
        await conn.execute(
            "CREATE OR REPLACE VIEW adm_reading_view AS "
            "SELECT id, ts, device, value FROM adm_reading"
        )
    limits = SeriesLimits(exact_rows=10, sample_rows=5)
    widgets = create_widgets_app([AdmReadingView], series=limits)
    # The estimate alone would sample (so the fallback below is exercised).
    from datetime import datetime, timezone

    from pgext.admin.series import SeriesRequest, sample_percent

    entry = widgets.registry.series_table("adm_reading_view")
    probe = SeriesRequest(
        time=AdmReadingView.ts,
        value=AdmReadingView.value,
        key=None,
        aggregate="count",
        start=datetime(2026, 1, 1, tzinfo=timezone.utc),
        end=datetime(2026, 1, 2, tzinfo=timezone.utc),
        points=2,
        series=1,
    )
    async with seeded.connection() as conn:
        assert await sample_percent(conn, entry, probe, limits) is not None
    transport = httpx.ASGITransport(app=Starlette(routes=[widgets.mount()]))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as view_client:
            view_client.cookies.set("id", session_token)
            response = await view_client.get(
                "/widgets/api/series/adm_reading_view",
                params={"agg": "count", "points": "2"},
            )
    finally:
        await widgets.close()
        async with seeded.connection() as conn:
            await conn.execute("DROP VIEW IF EXISTS adm_reading_view")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["sampled_percent"] is None
    assert sum(data["series"][0]["values"]) == 1440

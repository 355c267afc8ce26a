"""Piccolo Admin and pgext's widgets on a Citus coordinator, serving a
hash-distributed table with a geometry column: the admin's row list, a row
added through the admin API, the map's GeoJSON and an edit through pgext's
map API, each compared with the rows the database holds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import shapely
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Integer, Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.routing import Mount

from pgext import citus as pgcitus
from pgext import seam
from pgext.admin import mount_widgets
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from tests.helpers import recreate_tables, replace_admin_user

pytestmark = pytest.mark.citus

USERNAME = "citus_admin"
PASSWORD = "citus-password-42"
FEATURES = "/widgets/api/map/cta_shop/features"


@pgcitus.distributed("tenant")
class CtaShop(Table, tablename="cta_shop"):
    tenant = Integer(null=False)
    name = Varchar(length=50)
    location = Geometry("Point", srid=4326)


@pytest.fixture
async def client(citus: PgextEngine) -> AsyncIterator[httpx.AsyncClient]:
    # The admin's user and session tables are Piccolo's own, shared with the
    # admin suite: bound to the coordinator for this test, then given back.
    before = {t: seam.bound_engine(t) for t in (BaseUser, SessionsBase)}
    for table in (BaseUser, SessionsBase):
        seam.bind_engine(table, citus)
        await table.create_table(if_not_exists=True)
    seam.bind_engine(CtaShop, citus)
    await recreate_tables(citus, CtaShop)
    await pgcitus.setup(CtaShop, engine=citus)
    await CtaShop.insert(
        *[
            CtaShop(
                tenant=i % 3, name=f"shop {i}", location=f"POINT({2.3 + i / 100} 48.85)"
            )
            for i in range(6)
        ]
    )
    try:
        await replace_admin_user(USERNAME, PASSWORD)
        admin = create_admin([CtaShop], auth_table=BaseUser, session_table=SessionsBase)
        app = Starlette(routes=[Mount("/admin/", admin)])
        widgets = mount_widgets(app, tables=[CtaShop])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as http:
            await http.get("/admin/")
            response = await http.post(
                "/admin/public/login/",
                json={"username": USERNAME, "password": PASSWORD},
                headers={"X-CSRFToken": http.cookies["csrftoken"]},
            )
            assert response.status_code in (200, 303), response.text
            assert (await http.get("/widgets/api/widgets")).status_code == 200
            http.headers["X-CSRFToken"] = http.cookies["csrftoken"]
            yield http
        await widgets.close()
    finally:
        await BaseUser.delete().where(BaseUser.username == USERNAME)
        for table, engine in before.items():
            seam.bind_engine(table, engine)


async def _rows() -> dict[int, tuple[int, str, tuple[float, float]]]:
    rows = await CtaShop.select().order_by(CtaShop.id)
    return {
        r["id"]: (r["tenant"], r["name"], (r["location"].x, r["location"].y))
        for r in rows
    }


async def test_admin_and_map_on_a_distributed_table(
    client: httpx.AsyncClient, citus: PgextEngine
) -> None:
    assert await pgcitus.is_citus_table(CtaShop, engine=citus)
    listed = (await client.get("/admin/api/tables/cta_shop/?__order=id")).json()
    stored = await _rows()
    assert [r["id"] for r in listed["rows"]] == list(stored)
    assert [r["name"] for r in listed["rows"]] == [v[1] for v in stored.values()]

    added = await client.post(
        "/admin/api/tables/cta_shop/",
        json={
            "tenant": 7,
            "name": "via admin",
            "location": '{"type":"Point","coordinates":[2.4,48.9]}',
        },
    )
    assert added.status_code == 201, added.text
    stored = await _rows()
    new = [k for k, v in stored.items() if v[1] == "via admin"]
    assert len(new) == 1 and stored[new[0]] == (7, "via admin", (2.4, 48.9))

    geojson = await client.get(FEATURES, params={"bbox": "2,48,3,49"})
    assert geojson.status_code == 200, geojson.text
    features = {f["id"]: f for f in geojson.json()["features"]}
    assert set(features) == set(stored)
    for key, (_, _, point) in stored.items():
        # The map's GeoJSON is built in SQL with a bounded number of digits.
        got = features[key]["geometry"]["coordinates"]
        assert got == pytest.approx(list(point), abs=1e-9)

    feature = (await client.get(f"{FEATURES}/{new[0]}")).json()
    # A save with a version the row no longer has writes nothing.
    await CtaShop.update({CtaShop.name: "renamed"}).where(CtaShop.id == new[0])
    body = {"geometry": {"type": "Point", "coordinates": [2.45, 48.95]}}
    stale = await client.patch(
        f"{FEATURES}/{new[0]}", json={**body, "version": feature["version"]}
    )
    assert stale.status_code == 409, stale.text
    assert (await _rows())[new[0]] == (7, "renamed", (2.4, 48.9))
    feature = (await client.get(f"{FEATURES}/{new[0]}")).json()
    moved = await client.patch(
        f"{FEATURES}/{new[0]}", json={**body, "version": feature["version"]}
    )
    assert moved.status_code == 200, moved.text
    assert (await _rows())[new[0]] == (7, "renamed", (2.45, 48.95))
    row = await CtaShop.select(CtaShop.location).where(CtaShop.id == new[0]).first()
    assert row is not None and row["location"].equals(shapely.Point(2.45, 48.95))


async def test_joined_save_and_a_drawn_row_on_a_distributed_table(
    client: httpx.AsyncClient, citus: PgextEngine
) -> None:
    # A neighbour on the first shop's point, under another tenant (so in
    # another shard): the joined save moves both, each row locked by its
    # own distribution value.
    await CtaShop.insert(CtaShop(tenant=5, name="twin", location="POINT(2.3 48.85)"))
    twin = max(await _rows())
    async with citus.connection() as connection:
        assert await connection.fetchval(
            "SELECT get_shard_id_for_distribution_column('cta_shop', 0) <> "
            "get_shard_id_for_distribution_column('cta_shop', 5)"
        )
    feature = (await client.get(f"{FEATURES}/1")).json()
    moved = await client.patch(
        f"{FEATURES}/1",
        json={
            "geometry": {"type": "Point", "coordinates": [2.2, 48.8]},
            "version": feature["version"],
            "joined": True,
            "moves": [[[2.3, 48.85], [2.2, 48.8]]],
        },
    )
    assert moved.status_code == 200, moved.text
    stored = await _rows()
    assert stored[1][2] == stored[twin][2] == (2.2, 48.8)
    assert stored[2][2] == pytest.approx((2.31, 48.85))

    created = await client.post(
        FEATURES, json={"geometry": {"type": "Point", "coordinates": [2.5, 48.9]}}
    )
    assert created.status_code == 201, created.text
    # The column's default tenant (0) is the row's distribution value.
    assert (await _rows())[created.json()["id"]] == (0, "", (2.5, 48.9))

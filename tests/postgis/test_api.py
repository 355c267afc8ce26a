"""piccolo_api's PiccoloCRUD and Piccolo Admin with a geometry column, over
HTTP (httpx ASGI transport) against the real database."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import shapely
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from piccolo_api.crud.endpoints import PiccoloCRUD
from piccolo_api.session_auth.tables import SessionsBase

from pgext import seam
from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres


class IoApiPlace(Table, tablename="pgx_io_api_place"):
    name = Varchar()
    location = Geometry("Point", srid=4326)
    zone = Geography("Polygon", dimension="XYZ")


POINT = {"type": "Point", "coordinates": [13.4, 52.5]}
ZONE = "POLYGON Z ((0 0 1, 1 0 1, 1 1 1, 0 0 1))"


@pytest.fixture
async def places(pg_engine: PgextEngine) -> type[IoApiPlace]:
    await recreate_tables(pg_engine, IoApiPlace)
    await IoApiPlace.insert(IoApiPlace(name="first", location="POINT(1 2)", zone=ZONE))
    return IoApiPlace


@pytest.fixture
async def crud(places: type[IoApiPlace]) -> AsyncIterator[httpx.AsyncClient]:
    app = PiccoloCRUD(table=places, read_only=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def geojson(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data


async def test_crud_get_returns_geojson(crud: httpx.AsyncClient) -> None:
    response = await crud.get("/")
    assert response.status_code == 200, response.text
    (row,) = response.json()["rows"]
    assert geojson(row["location"]) == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert geojson(row["zone"])["coordinates"][0][0] == [0.0, 0.0, 1.0]
    single = await crud.get(f"/{row['id']}/")
    assert single.status_code == 200 and single.json()["location"] == row["location"]
    schema = (await crud.get("/schema/")).json()
    assert schema["properties"]["location"]["anyOf"][0]["x-widget"] == "map"


async def test_crud_post_and_patch_geojson(
    crud: httpx.AsyncClient, places: type[IoApiPlace]
) -> None:
    created = await crud.post("/", json={"name": "new", "location": json.dumps(POINT)})
    assert created.status_code == 201, created.text
    new_id = created.json()[0]["id"]
    stored = await places.select(places.location).where(places.id == new_id).first()
    assert stored is not None and stored["location"].equals(shapely.Point(13.4, 52.5))
    # A GeoJSON object (not text) is accepted as well.
    patched = await crud.patch(
        f"/{new_id}/", json={"location": {"type": "Point", "coordinates": [7, 8]}}
    )
    assert patched.status_code == 200, patched.text
    assert geojson(patched.json()["location"])["coordinates"] == [7.0, 8.0]
    stored = await places.select(places.location).where(places.id == new_id).first()
    assert stored is not None and stored["location"].equals(shapely.Point(7, 8))


@pytest.mark.parametrize(
    "body",
    [
        {"name": "bad", "location": "POLYGON((0 0, 1 0, 1 1, 0 0))"},
        {"name": "bad", "location": "{not json"},
        {"name": "bad", "zone": "POLYGON Z ((0 0 1, 0 100 1, 1 1 1, 0 0 1))"},
        {"name": "bad", "location": "POINT(nan 1)"},
        {"name": "bad", "location": {"type": "Point", "coordinates": [math.nan, 1]}},
        {"name": "bad", "location": {"type": "Point", "coordinates": [1, math.inf]}},
    ],
)
async def test_crud_bad_geometry_is_4xx_and_writes_nothing(
    crud: httpx.AsyncClient, places: type[IoApiPlace], body: dict[str, Any]
) -> None:
    # json.dumps, not httpx's json=: it writes NaN tokens as Python's json
    # (and so the server) reads them.
    headers = {"content-type": "application/json"}
    response = await crud.post("/", content=json.dumps(body), headers=headers)
    assert 400 <= response.status_code < 500, response.text
    first = await places.select(places.id).first()
    assert first is not None
    patch = await crud.patch(
        f"/{first['id']}/",
        content=json.dumps({k: v for k, v in body.items() if k != "name"}),
        headers=headers,
    )
    assert 400 <= patch.status_code < 500, patch.text
    assert await places.count() == 1
    row = await places.select(places.location).first()
    assert row is not None and row["location"].equals(shapely.Point(1, 2))


@pytest.fixture
async def admin(
    places: type[IoApiPlace], pg_engine: PgextEngine
) -> AsyncIterator[httpx.AsyncClient]:
    for table in (BaseUser, SessionsBase):
        seam.bind_engine(table, pg_engine)
        await table.create_table(if_not_exists=True)
    username, password = f"geo-{uuid.uuid4().hex[:8]}", "a-long-Passw0rd!"
    await BaseUser.create_user(
        username=username,
        password=password,
        email=f"{username}@example.org",  # e-mail is unique; other tests add users
        admin=True,
        active=True,
        superuser=True,
    )
    app = create_admin([places], auth_table=BaseUser, session_table=SessionsBase)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/public/meta/")  # sets the csrftoken cookie
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        login = await client.post(
            "/public/login/", json={"username": username, "password": password}
        )
        assert login.status_code in (200, 303), login.text
        yield client
    await BaseUser.delete().where(BaseUser.username == username)


async def test_admin_lists_adds_and_edits_geometry_rows(
    admin: httpx.AsyncClient, places: type[IoApiPlace]
) -> None:
    base = "/api/tables/pgx_io_api_place"
    schema = await admin.get(f"{base}/schema/")
    assert schema.status_code == 200, schema.text
    assert schema.json()["properties"]["location"]["anyOf"][0]["format"] == "geojson"
    listing = await admin.get(f"{base}/?__readable=true&__page=1&__page_size=15")
    assert listing.status_code == 200, listing.text
    assert geojson(listing.json()["rows"][0]["location"])["type"] == "Point"
    new = await admin.get(f"{base}/new/")
    assert new.status_code == 200, new.text
    # The admin's add form posts every field as text.
    added = await admin.post(
        f"{base}/",
        json={"name": "from admin", "location": json.dumps(POINT), "zone": None},
    )
    assert added.status_code == 201, added.text
    row_id = added.json()[0]["id"]
    edit_form = await admin.get(f"{base}/{row_id}/")
    assert edit_form.status_code == 200, edit_form.text
    text = edit_form.json()["location"]
    edited = await admin.patch(
        f"{base}/{row_id}/",
        json={"name": "edited", "location": text.replace("13.4", "14.0")},
    )
    assert edited.status_code == 200, edited.text
    row = (
        await places.select(places.name, places.location)
        .where(places.id == row_id)
        .first()
    )
    assert row is not None and row["name"] == "edited"
    assert row["location"].equals(shapely.Point(14.0, 52.5))
    bad = await admin.patch(
        f"{base}/{row_id}/", json={"location": "LINESTRING(0 0, 1 1)"}
    )
    assert 400 <= bad.status_code < 500

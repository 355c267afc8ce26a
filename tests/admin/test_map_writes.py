"""The editor's endpoints without a browser, against the real database: a
feature at full resolution with its version, a save with a stale version
refused (409) with nothing written, a drawn row's form and its values
validated (4xx, never 500, before anything is written), and links that stay
absolute when the whole app is mounted under a path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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

from pgext.admin import mount_widgets
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from tests.helpers import drop_tables, recreate_tables

pytestmark = pytest.mark.postgres

API = "/widgets/api/map/adm_site"
RING = [(5 + i * 1e-3, 45 + (i % 7) * 1.234567e-4) for i in range(300)]


class AdmSite(Table, tablename="adm_site"):
    code = Varchar(length=8, required=True)
    floors = Integer(default=1)
    outline = Geometry("LineString", srid=4326)


def app(prefix: str = "") -> Starlette:
    admin = create_admin([AdmSite], auth_table=BaseUser, session_table=SessionsBase)
    inner = Starlette(routes=[Mount("/admin/", admin)])
    mount_widgets(inner, tables=[AdmSite])
    return Starlette(routes=[Mount(prefix, inner)]) if prefix else inner


@pytest.fixture
async def sites(admin_db: PgextEngine) -> AsyncIterator[None]:
    await recreate_tables(admin_db, AdmSite)
    await AdmSite.insert(AdmSite(code="A1", outline=shapely.LineString(RING)))
    yield
    await drop_tables(AdmSite)


@asynccontextmanager
async def client_of(
    asgi: Starlette, token: str, prefix: str = ""
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        client.cookies.set("id", token)
        assert (await client.get(f"{prefix}/widgets/api/widgets")).status_code == 200
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        yield client


async def test_a_save_with_a_stale_version_writes_nothing(
    sites: None, session_token: str
) -> None:
    async with client_of(app(), session_token) as client:
        feature = (await client.get(f"{API}/features/1")).json()
        # Every stored double comes back as it is (no simplification).
        assert [tuple(c) for c in feature["geometry"]["coordinates"]] == RING
        moved = [list(c) for c in RING]
        moved[150][1] += 0.01
        body = {"geometry": {"type": "LineString", "coordinates": moved}}
        await AdmSite.update({AdmSite.floors: 3}).where(AdmSite.id == 1)
        stale = await client.patch(
            f"{API}/features/1", json={**body, "version": feature["version"]}
        )
        assert stale.status_code == 409
        assert "changed by someone else" in stale.json()["error"]
        row = await AdmSite.select().where(AdmSite.id == 1).first()
        assert list(row["outline"].coords) == RING and row["floors"] == 3

        fresh = (await client.get(f"{API}/features/1")).json()["version"]
        saved = await client.patch(f"{API}/features/1", json={**body, "version": fresh})
        assert saved.status_code == 200, saved.text
        # The answer carries the new version: the next save goes on from it.
        newer = (await client.get(f"{API}/features/1")).json()["version"]
        assert saved.json()["version"] == newer != fresh
        coords = list((await AdmSite.select().first())["outline"].coords)
        assert coords == [tuple(c) for c in moved]
        bad = await client.patch(f"{API}/features/1", json={**body, "version": "x"})
        assert bad.status_code == 400


async def test_a_drawn_row_needs_its_required_fields(
    sites: None, session_token: str
) -> None:
    line = {"type": "LineString", "coordinates": [[5, 45], [5.1, 45.1]]}
    async with client_of(app(), session_token) as client:
        form = (await client.get(f"{API}/form")).json()["fields"]
        by_name = {f["name"]: f for f in form}
        assert set(by_name) == {"code", "floors"}  # not the drawn geometry
        assert by_name["code"]["required"] and by_name["code"]["maxLength"] == 8
        assert by_name["floors"]["type"] == "integer"

        missing = await client.post(f"{API}/features", json={"geometry": line})
        assert missing.status_code == 400
        assert "code" in missing.json()["error"]
        wrong = await client.post(
            f"{API}/features",
            json={"geometry": line, "values": {"code": "B2", "floors": "many"}},
        )
        assert wrong.status_code == 400 and "floors" in wrong.json()["error"]
        unknown = await client.post(
            f"{API}/features", json={"geometry": line, "values": {"nope": 1}}
        )
        assert unknown.status_code == 400
        assert await AdmSite.count() == 1

        made = await client.post(
            f"{API}/features",
            json={"geometry": line, "values": {"code": "B2", "floors": 4}},
        )
        assert made.status_code == 201, made.text
        row = await AdmSite.select().where(AdmSite.id == made.json()["id"]).first()
        assert row["code"] == "B2" and row["floors"] == 4


async def test_links_stay_absolute_under_a_mount_path(
    sites: None, session_token: str
) -> None:
    async with client_of(app("/tools"), session_token, "/tools") as client:
        page = (await client.get("/tools/widgets/map/adm_site")).text
        assert 'href="/tools/admin/"' in page
        assert 'href="/tools/widgets/"' in page
        assert 'src="/tools/widgets/static/map.js"' in page
        assert "/tools/widgets/api/map/adm_site" in page
        index = (await client.get("/tools/widgets/")).text
        assert 'href="/tools/widgets/map/adm_site"' in index
        row = (await client.get("/tools/widgets/api/map/adm_site/rows/1")).json()
        assert row["admin_url"] == "/tools/admin/#/adm_site/1/"


async def test_a_vertex_placed_on_a_drawn_neighbour_joins_it_exactly(
    sites: None, session_token: str
) -> None:
    """The page snaps to the neighbour as drawn, rounded to 7 digits; with
    "joined" the stored vertex is the neighbour's own, to the last bit."""
    corner = (5.123456789012345, 45.98765432109876)
    await AdmSite.insert(
        AdmSite(code="N", outline=shapely.LineString([corner, (5.2, 46.1)]))
    )
    async with client_of(app(), session_token) as client:
        feature = (await client.get(f"{API}/features/1")).json()
        drawn = [round(corner[0], 7), round(corner[1], 7)]
        line = [*feature["geometry"]["coordinates"], drawn]
        body = {
            "geometry": {"type": "LineString", "coordinates": line},
            "version": feature["version"],
            "joined": True,
            "moves": [],
        }
        saved = await client.patch(f"{API}/features/1", json=body)
        assert saved.status_code == 200, saved.text
    coords = list(
        (await AdmSite.select().where(AdmSite.id == 1).first())["outline"].coords
    )
    assert coords[:-1] == RING  # the vertices the user did not touch
    assert coords[-1] == corner != tuple(drawn)

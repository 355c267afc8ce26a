"""The map obeys Piccolo Admin's rules for each table, against the real
database: read-only mode, the TableConfig's validators and hooks, and the
default for a table the admin does not serve.  Each app here is a fresh admin
with one configuration and the widgets mounted beside it; the browser half
(no editing tools when read-only) is in ``test_browser.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import shapely
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_api.crud.hooks import Hook, HookType
from piccolo_api.crud.validators import Validators
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Mount

from pgext.admin import mount_widgets
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from tests.admin.conftest import USERNAME, AdmArea, AdmReading, AdmShop
from tests.helpers import drop_tables, recreate_tables

pytestmark = pytest.mark.postgres

FEATURES = "/widgets/api/map/adm_shop/features"
ROWS = "/widgets/api/map/adm_shop/rows"
ADMIN_ROWS = "/admin/api/tables/adm_shop"
POINT = {"geometry": {"type": "Point", "coordinates": [2.5, 48.9]}}


def make_app(
    admin_tables: list[Any], *, read_only: bool = False, **options: Any
) -> Starlette:
    admin = create_admin(
        admin_tables,
        auth_table=BaseUser,
        session_table=SessionsBase,
        read_only=read_only,
    )
    app = Starlette(routes=[Mount("/admin/", admin)])
    mount_widgets(app, tables=[AdmShop], **options)
    return app


@pytest.fixture
async def app_client(
    session_token: str, seeded: PgextEngine
) -> AsyncIterator[Callable[[Starlette], Any]]:
    """Logged-in clients (the suite's admin session) of apps made by a test."""
    clients: list[httpx.AsyncClient] = []

    async def open_client(app: Starlette) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        clients.append(client)
        client.cookies.set("id", session_token)
        assert (await client.get("/widgets/api/widgets")).status_code == 200
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        return client

    yield open_client
    for client in clients:
        await client.aclose()


async def shops() -> list[dict[str, Any]]:
    return await AdmShop.select(AdmShop.id, AdmShop.name, AdmShop.location).order_by(
        AdmShop.id
    )


def same_rows(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    def key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (r["id"], r["name"], r["location"].wkb if r["location"] else None)
            for r in rows
        ]

    return key(before) == key(after)


# -- read-only ----------------------------------------------------------------------


async def test_read_only_admin_refuses_every_map_write_and_writes_nothing(
    app_client: Callable[[Starlette], Any],
) -> None:
    client = await app_client(make_app([AdmShop], read_only=True))
    before = await shops()
    moved = {"geometry": {"type": "Point", "coordinates": [3, 49]}}
    writes = [
        client.post(FEATURES, json=POINT),
        client.patch(f"{FEATURES}/1", json=moved),
        client.put(f"{FEATURES}/1", json=moved),
        client.delete(f"{FEATURES}/1"),
        client.delete(f"{ROWS}/1"),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 403, response.text
        assert response.json()["error"] == (
            "Piccolo Admin is read-only: 'adm_shop' cannot be edited"
        )
    assert same_rows(before, await shops())
    # Reading stays allowed, and the admin itself refuses the same PATCH.
    assert (await client.get(FEATURES, params={"bbox": "2,48,3,49"})).status_code == 200
    admin_patch = await client.patch(f"{ADMIN_ROWS}/1/", json={"name": "x"})
    assert admin_patch.status_code == 405
    page = (await client.get("/widgets/map/adm_shop")).text
    assert "&quot;editable&quot;: false" in page
    listed = (await client.get("/widgets/api/widgets")).json()["tables"]
    assert listed[0]["read_only_reason"] == (
        "Piccolo Admin is read-only: 'adm_shop' cannot be edited"
    )


# -- validators --------------------------------------------------------------------


def only_shop_owners(piccolo_crud: Any, request: Request) -> None:
    """An app's permission check: only a named user may edit shop 1 (reads
    the admin's ``row_id`` path parameter and the logged-in user)."""
    assert piccolo_crud.table is AdmShop
    if request.path_params["row_id"] == "1" and request.user.user.username != "owner":
        raise HTTPException(
            status_code=403, detail=f"Only the owner may edit shop 1, not {USERNAME}"
        )


async def test_a_validator_refusing_a_patch_refuses_the_maps_move(
    app_client: Callable[[Starlette], Any],
) -> None:
    config = TableConfig(
        AdmShop, validators=Validators(patch_single=[only_shop_owners])
    )
    client = await app_client(make_app([config]))
    before = await shops()

    by_admin = await client.patch(f"{ADMIN_ROWS}/1/", json={"name": "renamed"})
    by_map = await client.patch(
        f"{FEATURES}/1", json={"geometry": {"type": "Point", "coordinates": [3, 49]}}
    )
    assert by_admin.status_code == by_map.status_code == 403
    assert by_map.json()["error"] == by_admin.json()["detail"]
    assert "Only the owner may edit shop 1" in by_map.json()["error"]
    # Clearing the geometry is a PATCH of it too.
    cleared = await client.delete(f"{FEATURES}/1")
    assert (cleared.status_code, cleared.json()["error"]) == (
        403,
        by_admin.json()["detail"],
    )
    assert same_rows(before, await shops())

    # The validator is for PATCH of shop 1 only: another row moves.
    other = await client.patch(
        f"{FEATURES}/2", json={"geometry": {"type": "Point", "coordinates": [3, 49]}}
    )
    assert other.status_code == 200
    row = await AdmShop.select().where(AdmShop.id == 2).first()
    assert row is not None and row["location"].equals(shapely.Point(3, 49))


async def test_a_validator_that_fails_is_the_admins_400_and_reads_obey_validators(
    app_client: Callable[[Starlette], Any],
) -> None:
    def broken(piccolo_crud: Any, request: Request) -> None:
        raise RuntimeError("bug in the app's validator")

    def no_listing(piccolo_crud: Any, request: Request) -> None:
        raise HTTPException(status_code=403, detail="listing shops is not allowed")

    validators = Validators(post_single=[broken], get_all=[no_listing])
    client = await app_client(make_app([TableConfig(AdmShop, validators=validators)]))
    by_admin = await client.post(f"{ADMIN_ROWS}/", json={"name": "x", "location": None})
    by_map = await client.post(FEATURES, json=POINT)
    assert by_admin.status_code == by_map.status_code == 400
    assert by_map.json()["error"] == by_admin.json()["detail"] == "Validation error"
    assert await AdmShop.count() == 5

    listed = await client.get(FEATURES, params={"bbox": "2,48,3,49"})
    assert listed.status_code == 403
    assert listed.json()["error"] == "listing shops is not allowed"
    extent = await client.get("/widgets/api/map/adm_shop/extent")
    assert extent.status_code == 403
    # get_single has no validator here: one row is still shown.
    assert (await client.get(f"{ROWS}/1")).status_code == 200


# -- hooks -------------------------------------------------------------------------


async def test_pre_save_hooks_run_for_a_drawn_feature_like_in_the_admin(
    app_client: Callable[[Starlette], Any],
) -> None:
    calls: list[tuple[str, str, bool]] = []

    def stamp(row: AdmShop, request: Request) -> AdmShop:
        calls.append(("stamp", type(row).__name__, isinstance(request, Request)))
        row.name = f"drawn by {request.user.user.username}"
        return row

    async def suffix(row: AdmShop) -> AdmShop:
        calls.append(("suffix", type(row).__name__, False))
        row.name = f"{row.name} (checked)"
        return row

    hooks = [Hook(HookType.pre_save, stamp), Hook(HookType.pre_save, suffix)]
    client = await app_client(make_app([TableConfig(AdmShop, hooks=hooks)]))

    created = await client.post(FEATURES, json=POINT)
    assert created.status_code == 201, created.text
    row = await AdmShop.select().where(AdmShop.id == created.json()["id"]).first()
    assert row is not None
    assert row["name"] == f"drawn by {USERNAME} (checked)"
    assert row["location"].equals(shapely.Point(2.5, 48.9))
    map_calls = list(calls)

    # The admin calls the same hooks in the same order with the same
    # arguments.
    calls.clear()
    by_admin = await client.post(
        f"{ADMIN_ROWS}/", json={"name": "typed", "location": None}
    )
    assert by_admin.status_code == 201
    assert (
        calls
        == map_calls
        == [
            ("stamp", "AdmShop", True),
            ("suffix", "AdmShop", False),
        ]
    )


async def test_pre_patch_hooks_see_the_columns_and_their_changes_are_written(
    app_client: Callable[[Starlette], Any],
) -> None:
    seen: list[tuple[Any, list[str]]] = []

    def audit(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
        seen.append((row_id, sorted(c._meta.name for c in values)))
        return {**values, AdmShop.name: f"moved {row_id}"}

    hooks = [Hook(HookType.pre_patch, audit)]
    client = await app_client(make_app([TableConfig(AdmShop, hooks=hooks)]))
    moved = await client.patch(
        f"{FEATURES}/3", json={"geometry": {"type": "Point", "coordinates": [3, 49]}}
    )
    assert moved.status_code == 200
    row = await AdmShop.select().where(AdmShop.id == 3).first()
    assert row is not None
    assert row["name"] == "moved 3" and row["location"].equals(shapely.Point(3, 49))
    by_admin = await client.patch(
        f"{ADMIN_ROWS}/4/", json={"location": '{"type":"Point","coordinates":[1,2]}'}
    )
    assert by_admin.status_code == 200
    assert seen == [(3, ["location"]), (4, ["location"])]


async def test_a_pre_delete_hook_that_refuses_blocks_the_maps_delete(
    app_client: Callable[[Starlette], Any],
) -> None:
    def keep_shops_with_orders(row_id: int) -> None:
        if row_id == 2:
            raise HTTPException(status_code=409, detail="shop 2 has open orders")

    hooks = [Hook(HookType.pre_delete, keep_shops_with_orders)]
    client = await app_client(make_app([TableConfig(AdmShop, hooks=hooks)]))
    by_map = await client.delete(f"{ROWS}/2")
    by_admin = await client.delete(f"{ADMIN_ROWS}/2/")
    assert by_admin.status_code == by_map.status_code == 409
    assert by_map.json()["error"] == by_admin.json()["detail"]
    assert await AdmShop.exists().where(AdmShop.id == 2)

    # A row the hook allows is deleted by the map.
    deleted = await client.delete(f"{ROWS}/5")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert not await AdmShop.exists().where(AdmShop.id == 5)
    assert await AdmShop.count() == 4
    assert (await client.delete(f"{ROWS}/5")).status_code == 404


# -- tables the admin does not serve ----------------------------------------------


async def test_a_table_not_in_the_admin_is_read_only_unless_opted_in(
    app_client: Callable[[Starlette], Any],
) -> None:
    client = await app_client(make_app([AdmArea]))
    refused = await client.post(FEATURES, json=POINT)
    assert refused.status_code == 403
    assert "not served by Piccolo Admin" in refused.json()["error"]
    assert "editable_outside_admin" in refused.json()["error"]
    assert await AdmShop.count() == 5

    client = await app_client(make_app([AdmArea], editable_outside_admin=[AdmShop]))
    assert (await client.post(FEATURES, json=POINT)).status_code == 201
    assert await AdmShop.count() == 6


async def test_read_only_refuses_before_reading_the_body(
    app_client: Callable[[Starlette], Any],
) -> None:
    client = await app_client(make_app([AdmShop], read_only=True))
    for response in (
        await client.post(FEATURES, content=b"not json"),
        await client.patch(f"{FEATURES}/999", content=b"x" * 2_000_000),
    ):
        assert response.status_code == 403
    assert await AdmShop.count() == 5


async def test_get_all_validators_guard_the_charts_and_their_live_stream(
    session_token: str, widget_app: tuple[Starlette, Any], seeded: PgextEngine
) -> None:
    def no_readings(piccolo_crud: Any, request: Request) -> None:
        raise HTTPException(status_code=403, detail="readings are confidential")

    config = TableConfig(AdmReading, validators=Validators(get_all=[no_readings]))
    admin = create_admin([config], auth_table=BaseUser, session_table=SessionsBase)
    app = Starlette(routes=[Mount("/admin/", admin)])
    mount_widgets(app, tables=[AdmReading], hub=widget_app[1].hub)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        cookies={"id": session_token},
    ) as client:
        for path in ("", "/extent"):
            response = await client.get(f"/widgets/api/series/adm_reading{path}")
            assert response.status_code == 403
            assert response.json()["error"] == "readings are confidential"
        live = await client.get("/widgets/api/live/sse/adm_reading")
        assert live.status_code == 403
        assert "readings are confidential" in live.text


class AdmVault(Table, tablename="adm_vault"):
    code = Varchar(length=20, secret=True)
    location = Geometry("Point", srid=4326)


async def test_secret_columns_are_neither_labels_nor_row_values(
    app_client: Callable[[Starlette], Any], admin_db: PgextEngine
) -> None:
    await recreate_tables(admin_db, AdmVault)
    try:
        await AdmVault.insert(AdmVault(code="s3cr3t", location="POINT(2.3 48.85)"))
        admin = create_admin(
            [AdmVault], auth_table=BaseUser, session_table=SessionsBase
        )
        app = Starlette(routes=[Mount("/admin/", admin)])
        mount_widgets(app, tables=[AdmVault])
        client = await app_client(app)
        api = "/widgets/api/map/adm_vault"
        features = await client.get(f"{api}/features", params={"bbox": "2,48,3,49"})
        assert features.status_code == 200
        properties = features.json()["features"][0]["properties"]
        assert properties["label"] is None
        assert set(properties) == {"label", "version"}  # no hash of the secret
        row = await client.get(f"{api}/rows/1")
        assert "code" not in row.json()["row"] and "s3cr3t" not in row.text
    finally:
        await drop_tables(AdmVault)


async def test_widgets_made_before_the_admin_obey_it_once_told(
    app_client: Callable[[Starlette], Any],
) -> None:
    from pgext.admin import create_widgets_app

    widgets = create_widgets_app([AdmShop])  # no admin yet: read-only
    admin = create_admin(
        [TableConfig(AdmShop, hooks=[Hook(HookType.pre_save, stamp_drawn)])],
        auth_table=BaseUser,
        session_table=SessionsBase,
        sidebar_links=widgets.sidebar_links,
    )
    app = Starlette(routes=[Mount("/admin/", admin), widgets.mount()])
    client = await app_client(app)
    refused = await client.post(FEATURES, json=POINT)
    assert refused.status_code == 403
    assert "not served by Piccolo Admin" in refused.json()["error"]

    widgets.obey(admin)
    created = await client.post(FEATURES, json=POINT)
    assert created.status_code == 201
    row = await AdmShop.select().where(AdmShop.id == created.json()["id"]).first()
    assert row is not None and row["name"] == "drawn"


def stamp_drawn(row: AdmShop) -> AdmShop:
    row.name = "drawn"
    return row

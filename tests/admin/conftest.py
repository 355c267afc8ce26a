"""Fixtures of the admin widget tests: tables with a geometry and a time
column, the admin's user/session tables, an app with Piccolo Admin and the
widgets mounted beside it, and logged-in HTTP clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import uvicorn
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import DoublePrecision, Timestamptz, Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.routing import Mount

from pgext import seam
from pgext.admin import WidgetsApp, mount_widgets
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from pgext.pubsub import Hub
from pgext.widgets import annotate
from tests.helpers import recreate_tables, replace_admin_user

USERNAME = "widget_admin"
PASSWORD = "widget-password-42"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class AdmShop(Table, tablename="adm_shop"):
    name = Varchar(length=50)
    location = Geometry("Point", srid=4326)
    pin = Varchar(length=20, secret=True, null=True, default=None)


class AdmArea(Table, tablename="adm_area"):
    name = Varchar(length=50)
    outline = Geometry("Polygon", srid=3857)


class AdmReading(Table, tablename="adm_reading"):
    ts = Timestamptz()
    device = Varchar(length=20)
    value = DoublePrecision()


TABLES: list[type[Table]] = [AdmShop, AdmArea, AdmReading]


@pytest.fixture(scope="session")
async def admin_engine(postgres_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    # Created here when missing: a given server may only have it available.
    engine = PgextEngine(config=postgres_config, extensions=("postgis",))
    await engine.start_connection_pool(min_size=1, max_size=6)
    await engine.capabilities()
    yield engine
    await engine.close_connection_pool()


@pytest.fixture(scope="session")
async def admin_db(admin_engine: PgextEngine) -> PgextEngine:
    # The user and session tables are shared with other suites: create them
    # if missing, never drop them; only this suite's user is replaced.
    for table in (BaseUser, SessionsBase):
        seam.bind_engine(table, admin_engine)
        await table.create_table(if_not_exists=True)
    await replace_admin_user(USERNAME, PASSWORD)
    await recreate_tables(admin_engine, *TABLES)
    return admin_engine


async def seed(engine: PgextEngine) -> None:
    """A few shops around Paris and two devices' readings over a day."""
    async with engine.connection() as conn:
        await conn.execute("TRUNCATE adm_shop, adm_area, adm_reading RESTART IDENTITY")
    await AdmShop.insert(
        *[
            AdmShop(name=f"shop {i}", location=f"POINT({2.30 + i * 0.01} 48.85)")
            for i in range(5)
        ]
    )
    async with engine.connection() as conn:
        await conn.execute(
            "INSERT INTO adm_reading (ts, device, value) "
            "SELECT $1::timestamptz + g * interval '1 minute', "
            "'dev' || (g % 2), g % 60 FROM generate_series(0, 1439) g",
            T0,
        )


@pytest.fixture
async def seeded(admin_db: PgextEngine) -> PgextEngine:
    await seed(admin_db)
    return admin_db


@pytest.fixture(scope="session")
async def widget_app(
    admin_db: PgextEngine,
) -> AsyncIterator[tuple[Starlette, WidgetsApp]]:
    hub = Hub(admin_db, check_interval=0.5, reconnect_delay=(0.02, 0.2))
    # The time column's schema carries the widget entry (opt-in).
    assert annotate(AdmReading)
    admin = create_admin(TABLES, auth_table=BaseUser, session_table=SessionsBase)
    app = Starlette(routes=[Mount("/admin/", admin)])
    widgets = mount_widgets(app, tables=TABLES, hub=hub, max_features=50)
    yield app, widgets
    await widgets.close()
    await hub.close()


async def login(client: httpx.AsyncClient) -> None:
    """Log in through the admin's own login endpoint (with its CSRF)."""
    await client.get("/admin/")
    response = await client.post(
        "/admin/public/login/",
        json={"username": USERNAME, "password": PASSWORD},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert response.status_code in (200, 303), response.text
    assert client.cookies.get("id")


@pytest.fixture
async def anonymous(
    widget_app: tuple[Starlette, WidgetsApp],
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=widget_app[0])
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def session_token(widget_app: tuple[Starlette, WidgetsApp]) -> str:
    """One login per test session (the admin rate-limits its login)."""
    transport = httpx.ASGITransport(app=widget_app[0])
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        await login(client)
        return str(client.cookies["id"])


@pytest.fixture
async def client(anonymous: httpx.AsyncClient, session_token: str) -> httpx.AsyncClient:
    anonymous.cookies.set("id", session_token)
    # A safe request sets the CSRF cookie (the admin's name and path, so the
    # token is shared with the admin).
    assert (await anonymous.get("/widgets/api/widgets")).status_code == 200
    return anonymous


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies["csrftoken"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """``app`` served by uvicorn in this event loop (browser tests drive
    Chromium from a worker thread so the loop keeps serving)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture(scope="session")
async def live_server(
    widget_app: tuple[Starlette, WidgetsApp],
) -> AsyncIterator[str]:
    async with serve(widget_app[0]) as url:
        yield url


__all__ = ["T0", "timedelta"]

"""The map's editor in headless Chromium, checked against the database with
raw SQL: moving one vertex of a 360-vertex polygon stores that polygon with
every other vertex bit for bit (undo and cancel included), a shared vertex
moved with "Keep neighbours joined" stays shared, an edit of a row changed
meanwhile is refused with nothing overwritten, and cluster bubbles never
overlap.  Screenshots go to ``test-artifacts/admin/``."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import shapely
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.routing import Mount

from pgext.admin import mount_widgets
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from tests.admin.conftest import serve
from tests.admin.test_browser import ARTIFACTS, wait_for
from tests.browser import chromium
from tests.helpers import drop_tables, recreate_tables

pytestmark = [pytest.mark.postgres, pytest.mark.browser]


class AdmParcel(Table, tablename="adm_parcel"):
    name = Varchar(length=50)
    outline = Geometry("Polygon", srid=4326)


class AdmSpot(Table, tablename="adm_spot"):
    name = Varchar(length=50)
    location = Geometry("Point", srid=4326)


ROUND = [  # 360 vertices (361 with the closing one) on a circle
    (10 + 0.01 * math.cos(math.radians(k)), 50 + 0.01 * math.sin(math.radians(k)))
    for k in range(360)
]
WEST = [(20.0, 50.0), (20.002, 50.0), (20.002, 50.002), (20.0, 50.002)]
EAST = [(20.002, 50.0), (20.004, 50.0), (20.004, 50.002), (20.002, 50.002)]
SHARED = (20.002, 50.0)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chromium(ARTIFACTS) as browser:
        yield browser


@pytest.fixture
async def site(admin_db: PgextEngine, session_token: str) -> AsyncIterator[str]:
    """Parcels 1 (round), 2 (west) and 3 (east, sharing an edge with west),
    an admin serving them and the widgets beside it, in a logged-in browser."""
    await recreate_tables(admin_db, AdmParcel, AdmSpot)
    for name, ring in (("round", ROUND), ("west", WEST), ("east", EAST)):
        await AdmParcel.insert(AdmParcel(name=name, outline=shapely.Polygon(ring)))
    spots = random.Random(16)
    cities = [(-74, 40.7), (2.35, 48.85), (139.7, 35.7), (-46.6, -23.5), (28, -26)]
    cities += [(77.2, 28.6), (-122.4, 37.8), (151.2, -33.9), (37.6, 55.8)]
    await AdmSpot.insert(
        *[
            AdmSpot(
                name=f"spot {i}",
                location=shapely.Point(
                    x + spots.gauss(0, 2.5), max(-80, min(80, y + spots.gauss(0, 2)))
                ),
            )
            for i in range(900)
            for x, y in [cities[i % len(cities)]]
        ]
    )
    admin = create_admin(
        [AdmParcel, AdmSpot], auth_table=BaseUser, session_table=SessionsBase
    )
    app = Starlette(routes=[Mount("/admin/", admin)])
    mount_widgets(app, tables=[AdmParcel, AdmSpot], max_features=50)
    try:
        async with serve(app) as base:
            yield base
    finally:
        await drop_tables(AdmParcel, AdmSpot)


async def stored(pk: int) -> list[tuple[float, float]]:
    """The stored ring of parcel ``pk``, read with raw SQL (exact doubles)."""
    rows = await AdmParcel.raw(
        "SELECT ST_AsBinary(outline) AS wkb FROM adm_parcel WHERE id = {}", pk
    )
    ring = shapely.from_wkb(bytes(rows[0]["wkb"])).exterior.coords
    return [(x, y) for x, y in ring]


async def open_map(driver: Any, base: str, token: str, table: str, view: str) -> None:
    # The admin's session cookie, set on a light page of the same origin
    # (the admin's own page loads its whole app first).
    await asyncio.to_thread(driver.get, f"{base}/widgets/static/widgets.css")
    await asyncio.to_thread(
        driver.add_cookie, {"name": "id", "value": token, "path": "/"}
    )
    await asyncio.to_thread(driver.get, f"{base}/widgets/map/{table}?view={view}")
    await wait_for(
        driver,
        lambda d: d.find_element("id", "status").get_attribute("data-count"),
        "features loaded",
    )


def pixel(driver: Any, lon: float, lat: float) -> tuple[float, float]:
    x, y = driver.execute_script(
        "const p = window.pgextMap.latLngToContainerPoint([arguments[1], "
        "arguments[0]]); return [p.x, p.y];",
        lon,
        lat,
    )
    return float(x), float(y)


def lonlat(driver: Any, x: float, y: float) -> tuple[float, float]:
    lon, lat = driver.execute_script(
        "const p = window.pgextMap.containerPointToLatLng([arguments[0], "
        "arguments[1]]); return [p.lng, p.lat];",
        x,
        y,
    )
    return float(lon), float(lat)


async def drag(driver: Any, start: tuple[float, float], dx: int, dy: int) -> None:
    """Press the mouse at ``start`` (map pixels), move, release: as a hand."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "map")
    size = canvas.size

    def act() -> None:
        ActionChains(driver).move_to_element_with_offset(
            canvas,
            round(start[0] - size["width"] / 2),
            round(start[1] - size["height"] / 2),
        ).click_and_hold().move_by_offset(dx // 2, dy // 2).move_by_offset(
            dx - dx // 2, dy - dy // 2
        ).release().perform()

    await asyncio.to_thread(act)


async def click_at(driver: Any, point: tuple[float, float]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "map")
    size = canvas.size

    def act() -> None:
        ActionChains(driver).move_to_element_with_offset(
            canvas,
            round(point[0] - size["width"] / 2),
            round(point[1] - size["height"] / 2),
        ).click().perform()

    await asyncio.to_thread(act)


def ctrl_z(driver: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).key_down(Keys.CONTROL).send_keys("z").key_up(
        Keys.CONTROL
    ).perform()


def message_starting(prefix: str) -> Callable[[Any], str | bool]:
    def read(d: Any) -> str | bool:
        text: str = d.find_element("id", "message").text
        return text.startswith(prefix) and text

    return read


async def edit(driver: Any, inside: tuple[float, float], pk: int) -> None:
    """Click a parcel, then its row's "Edit shape"."""
    from selenium.common.exceptions import StaleElementReferenceException

    await click_at(driver, pixel(driver, *inside))
    # The panel may be drawn again (an earlier save shows its row too): a
    # button found just before may be gone; find it again.
    for _ in range(20):
        button = await wait_for(
            driver, lambda d: d.find_element("id", "edit-shape"), "row shown"
        )
        try:
            await asyncio.to_thread(button.click)
            break
        except StaleElementReferenceException:
            await asyncio.sleep(0.2)
    await wait_for(driver, message_starting(f"editing row {pk}"), "editor open")


async def test_moving_one_vertex_keeps_every_other_vertex(
    driver: Any, site: str, session_token: str
) -> None:
    before = await stored(1)
    assert len(before) == 361
    await open_map(
        driver, site, session_token, "adm_parcel", "10.008,49.999,10.012,50.001"
    )
    await edit(driver, (10.01, 50.0), 1)
    # The editor holds the stored shape, not the display's simplification.
    message = driver.find_element("id", "message").text
    assert message == "editing row 1: 360 vertices at full resolution"
    markers = driver.find_elements(
        "css selector", ".marker-icon:not(.marker-icon-middle)"
    )
    assert len(markers) == 360

    start = pixel(driver, *ROUND[0])
    await drag(driver, start, 40, 30)
    target = lonlat(driver, start[0] + 40, start[1] + 30)
    await wait_for(driver, message_starting("1 unsaved"), "first move")
    # A second move, taken back with Undo before saving.
    await drag(driver, pixel(driver, *ROUND[1]), 30, -25)
    await wait_for(driver, message_starting("2 unsaved"), "second move")
    await asyncio.to_thread(driver.find_element("id", "undo-shape").click)
    await wait_for(driver, message_starting("1 unsaved"), "undone")
    # Ctrl+Z undoes a step too; the move done again is the one kept.
    await drag(driver, pixel(driver, *ROUND[1]), 30, -25)
    await wait_for(driver, message_starting("2 unsaved"), "second move again")
    await asyncio.to_thread(ctrl_z, driver)
    await wait_for(driver, message_starting("1 unsaved"), "undone by Ctrl+Z")
    assert await stored(1) == before  # nothing written before Save
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "map-editor.png"))
    await asyncio.to_thread(driver.find_element("id", "save-shape").click)
    await wait_for(driver, message_starting("saved row 1"), "saved")

    after = await stored(1)
    assert len(after) == len(before) == 361
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [0, 360]  # the moved vertex, which also closes the ring
    assert after[0] == after[360]
    assert after[0] == pytest.approx(target, abs=2e-5)
    assert after[0] != pytest.approx(ROUND[0], abs=1e-4)

    # Cancel: a move that is not saved leaves the row as it is.
    await edit(driver, (10.0099, 50.0), 1)
    await drag(driver, pixel(driver, *ROUND[2]), -30, 20)
    await wait_for(driver, message_starting("1 unsaved"), "a move to cancel")
    await asyncio.to_thread(driver.find_element("id", "cancel-shape").click)
    await wait_for(driver, message_starting("edit cancelled"), "cancelled")
    assert await stored(1) == after


async def test_a_shared_vertex_moved_with_keep_joined_stays_shared(
    driver: Any, site: str, session_token: str
) -> None:
    west, east = await stored(2), await stored(3)
    assert SHARED in west and SHARED in east
    await open_map(
        driver, site, session_token, "adm_parcel", "19.9995,49.9993,20.0045,50.0025"
    )
    await edit(driver, (20.001, 50.001), 2)
    await asyncio.to_thread(driver.find_element("id", "joined").click)
    start = pixel(driver, *SHARED)
    await drag(driver, start, 10, 45)
    await wait_for(driver, message_starting("1 unsaved"), "shared vertex moved")
    await asyncio.to_thread(driver.find_element("id", "save-shape").click)
    saved = await wait_for(driver, message_starting("saved row 2"), "saved")
    assert saved == "saved row 2 and the shared vertices of row(s) 3"
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "map-joined.png"))

    west_after, east_after = await stored(2), await stored(3)
    moved = west_after[west.index(SHARED)]
    assert moved != SHARED and moved == east_after[east.index(SHARED)]
    assert len(west_after) == len(west) and len(east_after) == len(east)
    assert [p for p in west_after if p != moved] == [p for p in west if p != SHARED]
    assert [p for p in east_after if p != moved] == [p for p in east if p != SHARED]
    rows = await AdmParcel.raw(
        "SELECT ST_Touches(a.outline, b.outline) AS joined FROM adm_parcel a, "
        "adm_parcel b WHERE a.id = 2 AND b.id = 3"
    )
    assert rows[0]["joined"]


async def test_an_edit_of_a_row_changed_meanwhile_is_refused(
    driver: Any, site: str, session_token: str
) -> None:
    await open_map(
        driver, site, session_token, "adm_parcel", "20.0015,49.9993,20.0045,50.0025"
    )
    await edit(driver, (20.003, 50.001), 3)
    # Someone else changes the row after the page read it.
    await AdmParcel.raw(
        "UPDATE adm_parcel SET outline = ST_Translate(outline, 0, 0.0005), "
        "name = 'moved by someone else' WHERE id = 3"
    )
    theirs = await stored(3)
    await drag(driver, pixel(driver, 20.004, 50.002), 30, -20)
    await wait_for(driver, message_starting("1 unsaved"), "a stale move")
    await asyncio.to_thread(driver.find_element("id", "save-shape").click)
    refused = await wait_for(driver, message_starting("not saved"), "refused")
    assert refused.startswith("not saved: 409: row 3 of 'adm_parcel' was changed")
    assert "nothing was saved" in refused
    assert await stored(3) == theirs
    row = await AdmParcel.select(AdmParcel.name).where(AdmParcel.id == 3).first()
    assert row == {"name": "moved by someone else"}


async def test_cluster_bubbles_never_overlap(
    driver: Any, site: str, session_token: str
) -> None:
    await open_map(driver, site, session_token, "adm_spot", "-100,-10,105,80")
    await wait_for(
        driver,
        lambda d: d.find_element("id", "map").get_attribute("data-basemap"),
        "the offline basemap drawn",
    )
    overlapping = (
        "const r = Array.from(document.querySelectorAll('.pgext-cluster'), "
        "(e) => e.getBoundingClientRect());"
        "const hits = [];"
        "for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {"
        "  const a = r[i], b = r[j];"
        "  if (a.left < b.right && b.left < a.right && a.top < b.bottom && "
        "      b.top < a.bottom) hits.push([i, j]); }"
        "return [r.length, hits.length];"
    )
    seen = []
    zoom = int(driver.find_element("id", "status").get_attribute("data-zoom"))
    for step in range(4):
        status = driver.find_element("id", "status")
        assert status.get_attribute("data-mode") == "clusters"
        bubbles, hits = driver.execute_script(overlapping)
        seen.append((zoom, bubbles))
        assert bubbles > 1 and hits == 0, (zoom, bubbles, hits)
        if step == 0:
            await asyncio.to_thread(
                driver.save_screenshot, str(ARTIFACTS / "map-clusters.png")
            )
        zoom += 1
        await asyncio.to_thread(
            driver.find_element("css selector", ".leaflet-control-zoom-in").click
        )
        await wait_for(
            driver,
            lambda d, z=zoom: (
                d.find_element("id", "status").get_attribute("data-zoom") == str(z)
            ),
            f"zoom {zoom} loaded",
        )
    assert len({b for _, b in seen}) > 1, seen  # the grid follows the zoom

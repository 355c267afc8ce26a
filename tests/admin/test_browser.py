"""The widgets in headless Chromium against the real database: the map shows
the rows, a drawn point is saved into the table, the chart renders, and an
event published on the table's channel appears live.  Screenshots go to
``test-artifacts/admin/``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import shapely
from starlette.applications import Starlette

from pgext.admin import WidgetsApp, series_channel
from pgext.engine import PgextEngine
from tests.admin.conftest import T0, AdmReading, AdmShop, serve, timedelta
from tests.admin.test_rules import make_app
from tests.browser import chromium

pytestmark = [pytest.mark.postgres, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
T = TypeVar("T")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chromium(ARTIFACTS) as browser:
        yield browser


async def logged_in(driver: Any, base: str, session: str) -> None:
    """Hand the admin's session cookie (from a login through the admin's
    endpoint) to the browser: same origin, so the widgets see it."""
    await asyncio.to_thread(driver.get, f"{base}/admin/")
    await asyncio.to_thread(
        driver.add_cookie, {"name": "id", "value": session, "path": "/"}
    )


async def wait_for(driver: Any, condition: Callable[[Any], T], what: str) -> T:
    from selenium.webdriver.support.ui import WebDriverWait

    def wait() -> T:
        return WebDriverWait(driver, 20).until(condition, message=what)

    return await asyncio.to_thread(wait)


async def message_starting(driver: Any, prefix: str, what: str) -> str:
    """The map page's message once it starts with ``prefix``."""
    from selenium.webdriver.common.by import By

    def shown(d: Any) -> str | None:
        text: str = d.find_element(By.ID, "message").text
        return text if text.startswith(prefix) else None

    return await wait_for(driver, shown, what)


async def drag_south(driver: Any, target: Any) -> None:
    """Drag ``target`` (in geoman's drag mode) right, then down-right."""
    from selenium.webdriver.common.action_chains import ActionChains

    def drag() -> None:
        ActionChains(driver).click_and_hold(target).move_by_offset(
            20, 0
        ).move_by_offset(20, 40).release().perform()

    await asyncio.to_thread(drag)


async def click_marker(driver: Any, index: int) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    # The page loads its features again once it has moved to their extent:
    # a marker found just before may be gone; find it again.
    for _ in range(20):
        markers = driver.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")
        try:
            await asyncio.to_thread(markers[index].click)
            return
        except StaleElementReferenceException:
            await asyncio.sleep(0.2)
    raise AssertionError(f"marker {index} kept being replaced")


async def test_map_shows_rows_and_saves_a_drawn_point(
    driver: Any,
    live_server: str,
    seeded: PgextEngine,
    widget_app: tuple[Starlette, WidgetsApp],
    session_token: str,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    await logged_in(driver, live_server, session_token)
    # Piccolo Admin's sidebar links to the widget pages.
    await asyncio.to_thread(driver.get, f"{live_server}/admin/")
    link = await wait_for(
        driver,
        lambda d: d.find_element(By.CSS_SELECTOR, 'a[href$="/widgets/map/adm_shop"]'),
        "sidebar link in Piccolo Admin",
    )
    assert "Map: Adm_shop" in link.text  # the admin capitalises link labels
    await asyncio.to_thread(
        driver.save_screenshot, str(ARTIFACTS / "admin-sidebar.png")
    )
    await asyncio.to_thread(
        driver.get, f"{live_server}/widgets/map/adm_shop"
    )  # no ?view=: the page opens on the rows' extent
    status = await wait_for(
        driver,
        lambda d: d.find_element(By.ID, "status").get_attribute("data-count"),
        "features loaded",
    )
    assert status == "5"
    markers = driver.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")
    assert len(markers) >= 5
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "map.png"))

    # Click a feature: its row and the link to its admin edit page appear.
    await click_marker(driver, 0)
    link = await wait_for(
        driver, lambda d: d.find_element(By.ID, "edit-link"), "row shown"
    )
    edit_page = link.get_attribute("href")
    assert "/admin/#/adm_shop/" in edit_page
    # The row as a table: the geometry summed up, not raw GeoJSON; the
    # clicked point highlighted on the map.
    panel = driver.find_element(By.ID, "row-table").text
    assert "location Point (2.3" in panel and "coordinates" not in panel
    assert len(driver.find_elements(By.CSS_SELECTOR, 'path[stroke="#e8590c"]')) == 1

    # Draw a point with geoman's circle-marker tool.
    button = driver.find_element(By.CSS_SELECTOR, ".leaflet-pm-icon-circle-marker")
    await asyncio.to_thread(button.click)
    canvas = driver.find_element(By.ID, "map")
    expected = driver.execute_script(
        "const p = window.pgextMap.containerPointToLatLng([700, 150]);"
        "return [p.lng, p.lat];"
    )
    size = canvas.size

    def click() -> None:
        ActionChains(driver).move_to_element_with_offset(
            canvas, 700 - size["width"] // 2, 150 - size["height"] // 2
        ).click().perform()

    await asyncio.to_thread(click)
    # A drawn point opens the row's form; nothing is written before submit.
    name = await wait_for(
        driver, lambda d: d.find_element(By.ID, "field-name"), "new row form"
    )
    assert await AdmShop.count() == 5
    await asyncio.to_thread(name.send_keys, "drawn shop")
    await asyncio.to_thread(
        driver.save_screenshot, str(ARTIFACTS / "map-new-row-form.png")
    )
    assert await AdmShop.count() == 5
    await asyncio.to_thread(driver.find_element(By.ID, "create-row").click)
    message = await message_starting(driver, "created", "drawn point saved")
    new_id = int(message.rsplit(" ", 1)[1])
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "map-drawn.png"))
    row = await AdmShop.select().where(AdmShop.id == new_id).first()
    assert row is not None
    point = row["location"]
    assert isinstance(point, shapely.Point)
    assert point.x == pytest.approx(expected[0], abs=1e-3)
    assert point.y == pytest.approx(expected[1], abs=1e-3)
    assert row["name"] == "drawn shop"
    assert await AdmShop.count() == 6

    # Move a point with geoman's drag mode: saved through PATCH.
    await asyncio.to_thread(
        driver.find_element(By.CSS_SELECTOR, ".leaflet-pm-icon-drag").click
    )
    target = driver.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")[1]
    await drag_south(driver, target)
    moved = await message_starting(driver, "saved row", "dragged point saved")
    moved_id = int(moved.rsplit(" ", 1)[1])
    row = await AdmShop.select().where(AdmShop.id == moved_id).first()
    assert row is not None
    original = shapely.Point(2.30 + (moved_id - 1) * 0.01, 48.85)
    assert row["location"].y < original.y - 1e-4  # dragged south
    # Leaving drag mode loads the features again: wait for it to finish.
    driver.execute_script("document.getElementById('status').dataset.count = ''")
    await asyncio.to_thread(
        driver.find_element(By.CSS_SELECTOR, ".leaflet-pm-icon-drag").click
    )
    await wait_for(
        driver,
        lambda d: d.find_element(By.ID, "status").get_attribute("data-count"),
        "features loaded after leaving drag mode",
    )

    # Delete a geometry with the eraser: cleared through DELETE.
    await asyncio.to_thread(
        driver.find_element(By.CSS_SELECTOR, ".leaflet-pm-icon-delete").click
    )
    victim = driver.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")[3]
    await asyncio.to_thread(victim.click)
    cleared = await message_starting(driver, "cleared", "geometry cleared")
    cleared_id = int(cleared.rsplit(" ", 1)[1])
    row = await AdmShop.select().where(AdmShop.id == cleared_id).first()
    assert row is not None and row["location"] is None
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "map-edited.png"))

    # The link opens the row's edit form in Piccolo Admin.
    await asyncio.to_thread(driver.get, edit_page)
    await wait_for(
        driver,
        lambda d: any(
            i.get_attribute("value") == "shop 0"
            for i in d.find_elements(By.CSS_SELECTOR, "input")
        ),
        "the admin's edit form of the clicked row",
    )
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "admin-edit.png"))


async def test_chart_renders_and_shows_a_published_event_live(
    driver: Any,
    live_server: str,
    seeded: PgextEngine,
    widget_app: tuple[Starlette, WidgetsApp],
    session_token: str,
) -> None:
    from selenium.webdriver.common.by import By

    widgets = widget_app[1]
    await logged_in(driver, live_server, session_token)
    await asyncio.to_thread(
        driver.get, f"{live_server}/widgets/series/adm_reading?key=device&points=48"
    )
    buckets = await wait_for(
        driver,
        lambda d: d.find_element(By.ID, "status").get_attribute("data-buckets"),
        "chart data loaded",
    )
    assert 2 <= int(buckets) <= 48
    assert driver.find_elements(By.CSS_SELECTOR, "#chart canvas")
    legend = driver.find_element(By.ID, "chart").text
    assert "dev0" in legend and "dev1" in legend
    await wait_for(
        driver,
        lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "open",
        "live stream open",
    )
    channel = series_channel(AdmReading)
    point = {"ts": (T0 + timedelta(days=1, minutes=5)).isoformat(), "device": "dev0"}
    # The subscription may become active just after the stream opens: publish
    # until the page shows the event (plain NOTIFY has no replay).
    for attempt in range(40):
        await widgets.hub.publish(channel, {**point, "value": 99.5 + attempt})
        await asyncio.sleep(0.25)
        if driver.find_element(By.ID, "live").get_attribute("data-events"):
            break
    events = driver.find_element(By.ID, "events").text.replace(" ", "")
    # Under load the page may subscribe after the first publish: any of the
    # values published so far is the one it shows first.
    published = [99.5 + a for a in range(attempt + 1)]
    assert '"device":"dev0"' in events, events
    assert any(f'"value":{v}' in events for v in published), (events, published)
    plotted = driver.execute_script(
        "const d = window.pgextChart.data; return [d[0].length, d[1][d[1].length-1]];"
    )
    assert plotted[0] == int(buckets) + 1
    assert plotted[1] >= 99.5
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "chart.png"))


async def test_the_map_follows_the_admins_rules(
    driver: Any, seeded: PgextEngine, session_token: str
) -> None:
    """Read-only admin: no editing tools and no delete button; a validator
    that refuses PATCH: a dragged point is not saved, the page says why and
    shows the point where it is again; a pre_delete hook that refuses: the
    map's "Delete row" says why and the row stays."""
    from piccolo_admin.endpoints import TableConfig
    from piccolo_api.crud.hooks import Hook, HookType
    from piccolo_api.crud.validators import Validators
    from selenium.webdriver.common.by import By
    from starlette.exceptions import HTTPException

    async def open_map(base: str) -> None:
        await logged_in(driver, base, session_token)
        # A fixed view: the page loads its features once.
        page = f"{base}/widgets/map/adm_shop?view=2.25,48.8,2.4,48.9"
        await asyncio.to_thread(driver.get, page)
        count = await wait_for(
            driver,
            lambda d: d.find_element(By.ID, "status").get_attribute("data-count"),
            "features loaded",
        )
        assert count == "5"

    async def show_row(index: int) -> Any:
        await click_marker(driver, index)
        return await wait_for(
            driver, lambda d: d.find_element(By.ID, "edit-link"), "row shown"
        )

    async with serve(make_app([AdmShop], read_only=True)) as base:
        await open_map(base)
        assert not driver.find_elements(By.CSS_SELECTOR, ".leaflet-pm-toolbar")
        assert not driver.find_elements(By.CSS_SELECTOR, "[class*=leaflet-pm-icon]")
        assert driver.find_element(By.ID, "message").text == (
            "read-only: Piccolo Admin is read-only: 'adm_shop' cannot be edited"
        )
        await show_row(0)
        assert not driver.find_elements(By.ID, "delete-row")
        await asyncio.to_thread(
            driver.save_screenshot, str(ARTIFACTS / "map-read-only.png")
        )

    def frozen(piccolo_crud: Any, request: Any) -> None:
        raise HTTPException(status_code=403, detail="shops may not move")

    before = await AdmShop.select(AdmShop.id, AdmShop.location).order_by(AdmShop.id)
    validators = Validators(patch_single=[frozen])
    async with serve(make_app([TableConfig(AdmShop, validators=validators)])) as base:
        await open_map(base)
        drag = driver.find_element(By.CSS_SELECTOR, ".leaflet-pm-icon-drag")
        await asyncio.to_thread(drag.click)
        target = driver.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")[1]
        where = target.get_attribute("d")  # the point's place on the page
        await drag_south(driver, target)
        refused = await message_starting(driver, "not saved", "move refused")
        assert refused == "not saved: 403: shops may not move"
        await asyncio.to_thread(
            driver.save_screenshot, str(ARTIFACTS / "map-move-refused.png")
        )

        def places(d: Any) -> list[str]:
            # One script: the paths may be replaced while they are read.
            found: list[str] = d.execute_script(
                "return Array.from(document.querySelectorAll("
                "'path.leaflet-interactive'), (p) => p.getAttribute('d'))"
            )
            return found

        assert where not in places(driver)  # shown where it was dropped
        await asyncio.to_thread(drag.click)  # leaving drag mode reloads
        await wait_for(driver, lambda d: where in places(d), "point shown back")
    after = await AdmShop.select(AdmShop.id, AdmShop.location).order_by(AdmShop.id)
    assert [(r["id"], r["location"].wkb) for r in after] == [
        (r["id"], r["location"].wkb) for r in before
    ]

    def keep_shops(row_id: int) -> None:
        raise HTTPException(status_code=409, detail=f"shop {row_id} has open orders")

    hooks = [Hook(HookType.pre_delete, keep_shops)]
    async with serve(make_app([TableConfig(AdmShop, hooks=hooks)])) as base:
        await open_map(base)
        assert driver.find_elements(By.CSS_SELECTOR, ".leaflet-pm-icon-drag")
        await show_row(2)
        await asyncio.to_thread(driver.find_element(By.ID, "delete-row").click)
        refused = await message_starting(driver, "not deleted", "delete refused")
        assert refused.startswith("not deleted: 409: shop ")
        assert refused.endswith(" has open orders")
        await asyncio.to_thread(
            driver.save_screenshot, str(ARTIFACTS / "map-delete-refused.png")
        )
    assert await AdmShop.count() == 5

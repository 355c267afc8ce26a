"""Maps and charts inside Piccolo Admin's own edit form, in headless Chromium:
a person picks a location and draws a rectangle on the form's maps, saves
with the admin's Save button, and the database holds exactly the geometries
the form submitted.  Screenshots go to ``test-artifacts/admin/``."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import shapely
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import DoublePrecision, Timestamptz, Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.routing import Mount

from pgext import seam
from pgext.admin import mount_widgets
from pgext.editors import map_editor
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from pgext.widgets import annotate
from tests.admin.conftest import T0, USERNAME, serve, timedelta
from tests.admin.test_browser import ARTIFACTS, logged_in, wait_for
from tests.browser import chromium
from tests.helpers import recreate_tables

pytestmark = [pytest.mark.postgres, pytest.mark.browser]


class FormPlace(Table, tablename="form_place"):
    name = Varchar(length=50)
    spot = Geometry("Point", srid=4326)
    area = map_editor(Geometry("Polygon", srid=4326), "box")


class FormReading(Table, tablename="form_reading"):
    ts = Timestamptz()
    device = Varchar(length=20)
    value = DoublePrecision()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chromium(ARTIFACTS) as browser:
        yield browser


@pytest.fixture(scope="module")
async def form_server(admin_db: PgextEngine) -> AsyncIterator[str]:
    await recreate_tables(admin_db, FormPlace, FormReading)
    await FormPlace.insert(
        FormPlace(name="plaza", spot="POINT(2.35 48.85)", area=None),
    )
    async with admin_db.connection() as conn:
        await conn.execute(
            "INSERT INTO form_reading (ts, device, value) "
            "SELECT $1::timestamptz + g * interval '10 minutes', 'dev' || (g % 2), "
            "20 + g % 7 FROM generate_series(0, 287) g",
            T0,
        )
    assert annotate(FormReading)
    admin = create_admin(
        [FormPlace, FormReading], auth_table=BaseUser, session_table=SessionsBase
    )
    app = Starlette(routes=[Mount("/admin/", admin)])
    widgets = mount_widgets(app, tables=[FormPlace, FormReading])
    async with serve(app) as url:
        yield url
    await widgets.close()


async def stored(column: str, row_id: int) -> Any:
    """The column's value as PostGIS holds it (raw SQL, WKB)."""
    async with seam.table_engine(FormPlace).connection() as conn:
        data = await conn.fetchval(
            f"SELECT ST_AsBinary({column}) FROM form_place WHERE id = $1", row_id
        )
    return None if data is None else shapely.from_wkb(bytes(data))


def scroll_to(driver: Any, element: Any) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)


def click_at(driver: Any, canvas: Any, x: int, y: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    size = canvas.size
    ActionChains(driver).move_to_element_with_offset(
        canvas, x - size["width"] // 2, y - size["height"] // 2
    ).click().perform()


def pixel(driver: Any, column: str, lng: float, lat: float) -> tuple[float, float]:
    """Where ``lng, lat`` is on the column's map (container pixels)."""
    x, y = driver.execute_script(
        "const p = window.pgextFormMaps[arguments[0]]"
        ".latLngToContainerPoint([arguments[2], arguments[1]]);"
        "return [p.x, p.y];",
        column,
        lng,
        lat,
    )
    return float(x), float(y)


def near(got: tuple[float, float], want: tuple[int, int]) -> bool:
    return abs(got[0] - want[0]) <= 2 and abs(got[1] - want[1]) <= 2


def form_map(driver: Any, column: str) -> Any:
    """The Leaflet map under the form's ``column`` input."""
    from selenium.webdriver.common.by import By

    return driver.find_element(
        By.CSS_SELECTOR, f".pgext-form-map[data-column={column}] .leaflet-container"
    )


async def open_form(
    driver: Any, server: str, session_token: str, route: str, column: str
) -> Any:
    """Log in, open the admin's form at ``route`` (``table/id`` or
    ``table/add``) and wait for the map under ``column``; returns it."""
    await logged_in(driver, server, session_token)
    await asyncio.to_thread(driver.get, f"{server}/admin/#/{route}/")
    what = f"a map under {column!r} in the admin's form {route}"
    return await wait_for(driver, lambda d: form_map(d, column), what)


async def test_pick_a_location_and_draw_a_box_in_the_admins_edit_form(
    driver: Any, form_server: str, session_token: str
) -> None:
    from selenium.webdriver.common.by import By

    spot_map = await open_form(
        driver, form_server, session_token, "form_place/1", "spot"
    )
    # The map came after the login without a reload (the admin's page was
    # first opened logged out); reload so the admin's header knows the user.
    await asyncio.to_thread(driver.refresh)
    spot_map = await wait_for(
        driver, lambda d: form_map(d, "spot"), "the map again after a reload"
    )
    area_map = form_map(driver, "area")
    # Offline, the form's maps still show the land under the graticule.
    await wait_for(
        driver,
        lambda d: spot_map.get_attribute("data-basemap") == "natural-earth",
        "the Natural Earth outlines under the form's map",
    )
    # The text boxes are hidden behind "Edit as text", not gone.
    spot_input = driver.find_element(By.CSS_SELECTOR, "form input[name=spot]")
    assert not spot_input.is_displayed()
    assert json.loads(spot_input.get_attribute("value"))["coordinates"] == [
        2.35,
        48.85,
    ]
    assert driver.find_element(
        By.CSS_SELECTOR, ".pgext-form-map[data-column=area]"
    ).get_attribute("data-editor") == ("box")

    # Pick a location: click the map where the point should go.
    scroll_to(driver, spot_map)
    await asyncio.to_thread(click_at, driver, spot_map, 200, 120)
    await wait_for(
        driver,
        lambda d: (
            json.loads(spot_input.get_attribute("value") or "null")["coordinates"]
            != [2.35, 48.85]
        ),
        "the picked location written into the form",
    )

    # Draw a rectangle with the box tool: first corner, then opposite corner.
    tool = driver.find_element(
        By.CSS_SELECTOR,
        ".pgext-form-map[data-column=area] .leaflet-pm-icon-rectangle",
    )
    await asyncio.to_thread(tool.click)
    scroll_to(driver, area_map)
    corners = [(150, 80), (330, 200)]
    for x, y in corners:
        await asyncio.to_thread(click_at, driver, area_map, x, y)
    area_input = driver.find_element(By.CSS_SELECTOR, "form input[name=area]")
    await wait_for(
        driver,
        lambda d: area_input.get_attribute("value"),
        "the drawn box written into the form",
    )
    submitted = {
        "spot": shapely.from_geojson(spot_input.get_attribute("value")),
        "area": shapely.from_geojson(area_input.get_attribute("value")),
    }
    # Where the person clicked (within a pixel or two: the
    # click lands on whole pixels, Leaflet writes six decimals).
    assert near(
        pixel(driver, "spot", submitted["spot"].x, submitted["spot"].y), (200, 120)
    )
    minx, miny, maxx, maxy = submitted["area"].bounds
    assert near(pixel(driver, "area", minx, maxy), corners[0])
    assert near(pixel(driver, "area", maxx, miny), corners[1])

    # The whole form in one picture (the README shows it), once the admin's
    # header names the user.
    await wait_for(
        driver,
        lambda d: USERNAME in d.find_element(By.TAG_NAME, "body").text,
        "the admin's header",
    )
    await asyncio.to_thread(driver.set_window_size, 1280, 1300)
    driver.execute_script("window.scrollTo(0, 0)")
    await asyncio.to_thread(
        driver.save_screenshot, str(ARTIFACTS / "admin-form-map.png")
    )
    await asyncio.to_thread(driver.set_window_size, 1280, 800)

    # Save with the admin's own button.
    save = driver.find_element(By.CSS_SELECTOR, "[data-uitest=save_button]")
    await asyncio.to_thread(save.click)
    await wait_for(
        driver,
        lambda d: "Successfully saved" in d.find_element(By.TAG_NAME, "body").text,
        "the admin's saved message",
    )
    spot = await stored("spot", 1)
    area = await stored("area", 1)
    # Exactly what the form submitted.
    assert shapely.equals_exact(spot, submitted["spot"], tolerance=0)
    assert shapely.equals_exact(area, submitted["area"], tolerance=0)
    assert area.area == pytest.approx(area.envelope.area)  # a rectangle

    # "Edit as text" shows the admin's text box, holding the same value.
    await asyncio.to_thread(
        driver.find_element(
            By.CSS_SELECTOR, ".pgext-form-map[data-column=spot] .pgext-form-text"
        ).click
    )
    assert spot_input.is_displayed()
    assert shapely.equals_exact(
        shapely.from_geojson(spot_input.get_attribute("value")), spot, tolerance=0
    )


# The view of a form map and each of its graticule labels: axis, text, the
# degrees of the map at the label's two edges across its line (through the
# map's own projection, from where the label is on the screen), whether it
# lies wholly inside the view and whether a map control covers it.
GRATICULE_LABELS = """
const map = window.pgextFormMaps[arguments[0]], view = map.getBounds();
const box = map.getContainer().getBoundingClientRect();
const controls = [...map.getContainer().querySelectorAll(".leaflet-control")]
  .map((c) => c.getBoundingClientRect());
const nodes = map.getContainer().querySelectorAll(".pgext-graticule-label");
const labels = [...nodes].map((node) => {
  const r = node.getBoundingClientRect(), lat = node.dataset.axis === "lat";
  const corner = (x, y) => map.containerPointToLatLng([x - box.left, y - box.top]);
  const edges = lat
    ? [corner(r.left, r.top).lat, corner(r.left, r.bottom).lat]
    : [corner(r.left, r.bottom).lng, corner(r.right, r.bottom).lng];
  return {
    axis: node.dataset.axis, text: node.textContent, edges,
    inside: r.left >= box.left && r.right <= box.right
      && r.top >= box.top && r.bottom <= box.bottom,
    covered: controls.some((c) => r.left < c.right && r.right > c.left
      && r.top < c.bottom && r.bottom > c.top),
  };
});
const lat = [view.getSouth(), view.getNorth()];
return {labels, lat, lng: [view.getWest(), view.getEast()]};
"""


def check_graticule_labels(driver: Any, column: str) -> set[str]:
    """Every line in view labelled, each once, inside the view, clear of the
    map's controls and beside its own line; returns the labels' texts."""
    shown: dict[str, Any] = driver.execute_script(GRATICULE_LABELS, column)
    labels = shown["labels"]
    values = {
        axis: [float(x["text"].rstrip("°")) for x in labels if x["axis"] == axis]
        for axis in ("lat", "lng")
    }
    for axis, found in values.items():
        assert len(set(found)) == len(found), f"{axis} labels repeat: {sorted(found)}"
    # The spacing of the lines, as the meridians' labels show it.
    meridians = sorted(values["lng"])
    assert len(meridians) >= 2, labels
    step = meridians[1] - meridians[0]
    for axis, found in values.items():
        low, high = shown[axis]
        in_view = range(math.floor(low / step) + 1, math.ceil(high / step))
        assert sorted(round(v / step) for v in found) == list(in_view), (axis, shown)
    for label in labels:
        assert label["inside"] and not label["covered"], label
        degrees = float(label["text"].rstrip("°"))
        assert min(abs(edge - degrees) for edge in label["edges"]) < step / 10, label
    return {label["text"] for label in labels}


async def test_the_graticule_labels_each_line_once_per_view(
    driver: Any, form_server: str, session_token: str
) -> None:
    """Labels drawn on each grid tile repeated along every row and column of
    tiles; each parallel and meridian in view is labelled once, also after
    the map is moved and zoomed."""
    from selenium.webdriver.common.by import By

    spot_map = await open_form(
        driver, form_server, session_token, "form_place/1", "spot"
    )
    scroll_to(driver, spot_map)
    tiles = await wait_for(
        driver,
        lambda d: len(spot_map.find_elements(By.CSS_SELECTOR, "canvas.leaflet-tile")),
        "the graticule's tiles",
    )
    assert tiles > 2  # labels drawn per tile would repeat here
    first = check_graticule_labels(driver, "spot")
    await asyncio.to_thread(
        spot_map.screenshot, str(ARTIFACTS / "admin-form-graticule.png")
    )
    # The box editor's map has drawing tools along its left edge too.
    check_graticule_labels(driver, "area")

    # Dragged across tiles, then zoomed in: labelled afresh, once each.
    driver.execute_script(
        "window.pgextFormMaps.spot.panBy([300, 200], {animate: false})"
    )
    assert check_graticule_labels(driver, "spot") != first
    driver.execute_script(
        "const map = window.pgextFormMaps.spot;"
        "map.setZoom(map.getZoom() + 3, {animate: false})"
    )
    zoomed = check_graticule_labels(driver, "spot")
    # Finer lines, with more digits.
    assert min(map(decimals, zoomed)) > max(map(decimals, first))


def decimals(text: str) -> int:
    return len(text.rstrip("°").partition(".")[2])


async def test_a_time_series_row_shows_its_series_around_it(
    driver: Any, form_server: str, session_token: str
) -> None:
    from selenium.webdriver.common.by import By

    await logged_in(driver, form_server, session_token)
    await asyncio.to_thread(driver.get, f"{form_server}/admin/#/form_reading/40/")
    chart = await wait_for(
        driver,
        lambda d: d.find_element(By.CSS_SELECTOR, ".pgext-form-chart[data-points]"),
        "a chart under the row's time",
    )
    assert int(chart.get_attribute("data-points")) > 10
    assert chart.find_elements(By.TAG_NAME, "canvas")
    note = chart.find_element(By.CLASS_NAME, "pgext-form-note").text
    assert "device dev1" in note  # row 40 is g = 39: dev1
    await asyncio.to_thread(
        driver.save_screenshot, str(ARTIFACTS / "admin-form-chart.png")
    )


__all__ = ["T0", "timedelta"]


async def test_pick_a_location_in_the_admins_add_form(
    driver: Any, form_server: str, session_token: str
) -> None:
    from selenium.webdriver.common.by import By

    spot_map = await open_form(
        driver, form_server, session_token, "form_place/add", "spot"
    )
    name = driver.find_element(By.CSS_SELECTOR, "form input[name=name]")
    await asyncio.to_thread(name.send_keys, "kiosk")
    scroll_to(driver, spot_map)
    await asyncio.to_thread(click_at, driver, spot_map, 320, 150)
    spot_input = driver.find_element(By.CSS_SELECTOR, "form input[name=spot]")
    value = await wait_for(
        driver,
        lambda d: spot_input.get_attribute("value"),
        "the picked location written into the form",
    )
    assert near(pixel(driver, "spot", *json.loads(value)["coordinates"]), (320, 150))
    create = driver.find_element(By.CSS_SELECTOR, "[data-uitest=create_button]")
    await asyncio.to_thread(create.click)
    await wait_for(
        driver,
        lambda d: "Successfully added" in d.find_element(By.TAG_NAME, "body").text,
        "the admin's added message",
    )
    async with seam.table_engine(FormPlace).connection() as conn:
        row = await conn.fetchrow(
            "SELECT id, ST_AsBinary(spot) AS spot, area FROM form_place "
            "WHERE name = 'kiosk'"
        )
    assert row is not None and row["area"] is None  # the empty box stays empty
    stored_spot = shapely.from_wkb(bytes(row["spot"]))
    assert shapely.equals_exact(stored_spot, shapely.from_geojson(value), tolerance=0)


async def test_a_web_mercator_column_is_drawn_in_degrees_and_saved_in_metres(
    driver: Any, live_server: str, seeded: PgextEngine, session_token: str
) -> None:
    """``adm_area.outline`` is SRID 3857: the form converts what is drawn
    on the map into metres and says so with the GeoJSON ``crs`` member."""
    from selenium.webdriver.common.by import By

    area_map = await open_form(
        driver, live_server, session_token, "adm_area/add", "outline"
    )
    name = driver.find_element(By.CSS_SELECTOR, "form input[name=name]")
    await asyncio.to_thread(name.send_keys, "mercator box")
    scroll_to(driver, area_map)
    await asyncio.to_thread(
        driver.find_element(
            By.CSS_SELECTOR,
            ".pgext-form-map[data-column=outline] .leaflet-pm-icon-rectangle",
        ).click
    )
    corners = [(200, 100), (400, 220)]
    degrees = [
        driver.execute_script(
            "const p = window.pgextFormMaps.outline"
            ".containerPointToLatLng([arguments[0], arguments[1]]);"
            "return [p.lng, p.lat];",
            *corner,
        )
        for corner in corners
    ]
    for x, y in corners:
        await asyncio.to_thread(click_at, driver, area_map, x, y)
    outline = driver.find_element(By.CSS_SELECTOR, "form input[name=outline]")
    value = await wait_for(
        driver, lambda d: outline.get_attribute("value"), "the box in metres"
    )
    assert json.loads(value)["crs"]["properties"]["name"] == "EPSG:3857"
    await asyncio.to_thread(
        driver.find_element(By.CSS_SELECTOR, "[data-uitest=create_button]").click
    )
    await wait_for(
        driver,
        lambda d: "Successfully added" in d.find_element(By.TAG_NAME, "body").text,
        "the admin's added message",
    )
    async with seeded.connection() as conn:
        row = await conn.fetchrow(
            "SELECT ST_SRID(outline) AS srid, "
            "ST_AsBinary(ST_Transform(outline, 4326)) AS degrees "
            "FROM adm_area WHERE name = 'mercator box'"
        )
    assert row["srid"] == 3857
    minx, miny, maxx, maxy = shapely.from_wkb(bytes(row["degrees"])).bounds
    (x1, y1), (x2, y2) = degrees
    # Where the person clicked, to a pixel (about 0.0003° at this zoom).
    pixel_size = abs(x2 - x1) / 200
    assert minx == pytest.approx(min(x1, x2), abs=2 * pixel_size)
    assert maxx == pytest.approx(max(x1, x2), abs=2 * pixel_size)
    assert miny == pytest.approx(min(y1, y2), abs=2 * pixel_size)
    assert maxy == pytest.approx(max(y1, y2), abs=2 * pixel_size)

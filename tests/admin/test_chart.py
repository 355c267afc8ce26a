"""The time-series chart as people meet it: sensors that report at different
minutes still draw, the legend reads sensor 1, 2, 10, the value menu offers
measures only, series are chosen by ``keys=`` or by recent activity, a live
row is folded into its bucket, and a zoomed past range stays put while live
rows arrive.  Headless Chromium against the real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import DoublePrecision, Integer, Timestamptz, Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.routing import Mount

from pgext.admin import WidgetsApp, mount_widgets, series_channel
from pgext.engine import PgextEngine
from tests.admin.conftest import T0, serve, timedelta
from tests.admin.test_browser import ARTIFACTS, logged_in, wait_for
from tests.browser import chromium
from tests.helpers import recreate_tables

pytestmark = [pytest.mark.postgres]
SENSORS = ("sensor 1", "sensor 2", "sensor 10")
PAGE = "/widgets/series/chart_reading?key=sensor"


class ChartReading(Table, tablename="chart_reading"):
    ts = Timestamptz()
    sensor = Varchar(length=20)
    sensor_id = Integer()
    value = DoublePrecision()


@pytest.fixture(scope="module")
async def chart_app(admin_db: PgextEngine) -> AsyncIterator[tuple[Starlette, Any]]:
    await recreate_tables(admin_db, ChartReading)
    # Six hours, every sensor every 10 minutes but each at its own minute
    # (0, 3, 6): in 1-minute buckets each series has a row in one bucket of
    # ten.  "sensor 2" stops reporting an hour early.
    async with admin_db.connection() as conn:
        await conn.execute(
            "INSERT INTO chart_reading (ts, sensor, sensor_id, value) "
            "SELECT $1::timestamptz + (g * 10 + s.minute) * interval '1 minute', "
            "s.name, s.id, s.id * 10 + g % 5 "
            "FROM generate_series(0, 35) g, (VALUES ('sensor 1', 1, 0), "
            "('sensor 2', 2, 3), ('sensor 10', 10, 6)) s(name, id, minute) "
            "WHERE s.id <> 2 OR g < 30",
            T0,
        )
    admin = create_admin(
        [ChartReading], auth_table=BaseUser, session_table=SessionsBase
    )
    app = Starlette(routes=[Mount("/admin/", admin)])
    widgets = mount_widgets(app, tables=[ChartReading])
    yield app, widgets
    await widgets.close()


@pytest.fixture(scope="module")
async def chart_server(chart_app: tuple[Starlette, WidgetsApp]) -> AsyncIterator[str]:
    async with serve(chart_app[0]) as url:
        yield url


@pytest.fixture
async def api(
    chart_app: tuple[Starlette, WidgetsApp], session_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=chart_app[0])
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        client.cookies.set("id", session_token)
        yield client


SERIES = "/widgets/api/series/chart_reading"


async def test_series_are_the_most_recently_active_or_the_chosen_keys(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(SERIES, params={"key": "sensor", "series": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    # "sensor 2" has as many rows as the others had then, but stopped first.
    assert [s["key"] for s in body["series"]] == ["sensor 1", "sensor 10"]
    response = await api.get(
        SERIES, params=[("key", "sensor"), ("keys", "sensor 2"), ("keys", "sensor 1")]
    )
    assert [s["key"] for s in response.json()["series"]] == ["sensor 1", "sensor 2"]
    # Every series reports in one bucket of ten; counts say how many rows.
    series = response.json()["series"][0]
    assert sum(series["counts"]) == 36
    assert (await api.get(SERIES, params={"keys": "sensor 1"})).status_code == 400
    many = [("key", "sensor")] + [("keys", str(i)) for i in range(11)]
    assert (await api.get(SERIES, params=many)).status_code == 400


async def test_the_value_menu_offers_measures_not_keys(
    api: httpx.AsyncClient,
) -> None:
    tables = (await api.get("/widgets/api/widgets")).json()["tables"]
    (entry,) = [t for t in tables if t["table"] == "chart_reading"]
    (series,) = [w for w in entry["widgets"] if w["widget"] == "timeseries"]
    assert series["value_columns"] == ["value"]
    assert "sensor_id" in series["series_keys"]


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chromium(ARTIFACTS) as browser:
        yield browser


def stroked_pixels(driver: Any) -> list[int]:
    """How many canvas pixels carry each series' colour."""
    return list(
        driver.execute_script(
            """
            const u = window.pgextChart.plot, ctx = u.ctx;
            const canvas = ctx.canvas;
            const img = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            return u.series.slice(1).map((s) => {
              const c = s._stroke || s.stroke;
              const want = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
              let n = 0;
              for (let i = 0; i < img.length; i += 4) {
                const near = [0, 1, 2].every((k) => Math.abs(img[i+k] - want[k]) < 30);
                if (near && img[i + 3] > 200) n += 1;
              }
              return n;
            });
            """
        )
    )


async def open_chart(driver: Any, base: str, query: str = "") -> None:
    from selenium.webdriver.common.by import By

    await asyncio.to_thread(driver.get, f"{base}{PAGE}{query}")
    await wait_for(
        driver,
        lambda d: d.find_element(By.ID, "status").get_attribute("data-buckets"),
        "chart data loaded",
    )
    await wait_for(
        driver,
        lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "open",
        "live stream open",
    )


async def publish_until_seen(driver: Any, widgets: Any, row: dict[str, Any]) -> int:
    """Publish ``row`` until the page has received it (plain NOTIFY has no
    replay, and the page may subscribe just after the stream opens); returns
    how many the page received."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    channel = series_channel(ChartReading)
    for _ in range(40):
        await widgets.hub.publish(channel, row)
        try:
            return int(
                await asyncio.to_thread(
                    WebDriverWait(driver, 0.5).until,
                    lambda d: d.find_element(By.ID, "live").get_attribute(
                        "data-events"
                    ),
                )
            )
        except TimeoutException:
            continue
    raise AssertionError("the page never received a live row")


@pytest.mark.browser
async def test_sensors_reporting_at_different_minutes_draw_in_natural_order(
    driver: Any, chart_server: str, session_token: str
) -> None:
    from selenium.webdriver.common.by import By

    await logged_in(driver, chart_server, session_token)
    await open_chart(driver, chart_server, "&points=400")
    width = driver.find_element(By.ID, "status").get_attribute("data-width")
    assert width == "60"  # 6 h in 400 points: 1-minute buckets
    labels = [
        e.text
        for e in driver.find_elements(By.CSS_SELECTOR, ".u-legend .u-series .u-label")
    ][1:]
    assert labels == list(SENSORS)
    # Each series has a row in one bucket of ten, yet draws a line.
    assert all(n > 300 for n in stroked_pixels(driver)), stroked_pixels(driver)
    options = [
        e.get_attribute("value")
        for e in driver.find_elements(By.CSS_SELECTOR, "#value option")
    ]
    assert options == ["value"]
    assert "buckets of 1 min" in driver.find_element(By.ID, "status").text
    await asyncio.to_thread(
        driver.save_screenshot, str(ARTIFACTS / "chart-sensors.png")
    )


@pytest.mark.browser
async def test_a_live_row_is_folded_into_its_bucket(
    driver: Any,
    chart_server: str,
    chart_app: tuple[Starlette, WidgetsApp],
    session_token: str,
) -> None:
    await logged_in(driver, chart_server, session_token)
    await open_chart(driver, chart_server, "&points=24")  # 15-minute buckets
    before = driver.execute_script(
        "const c = window.pgextChart; const i = c.data[0].length - 1;"
        "return [c.data[0].length, c.data[0][i], c.data[3][i], c.counts[2][i]];"
    )
    length, last_bucket, value, count = before
    # sensor 10's next reading, inside the last bucket.
    ts = T0 + timedelta(seconds=last_bucket - T0.timestamp() + 60)
    row = {"ts": ts.isoformat(), "sensor": "sensor 10", "sensor_id": 10, "value": 500}
    seen = await publish_until_seen(driver, chart_app[1], row)
    after = driver.execute_script(
        "const c = window.pgextChart; const i = c.data[0].length - 1;"
        "return [c.data[0].length, c.data[3][i], c.counts[2][i]];"
    )
    assert after[0] == length  # no new point among the buckets
    assert after[2] == count + seen
    assert after[1] == pytest.approx((value * count + 500 * seen) / (count + seen))


@pytest.mark.browser
async def test_a_zoomed_range_stays_put_when_live_rows_arrive(
    driver: Any,
    chart_server: str,
    chart_app: tuple[Starlette, WidgetsApp],
    session_token: str,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    await logged_in(driver, chart_server, session_token)
    await open_chart(driver, chart_server)
    first = driver.execute_script("return window.pgextChart.result.start")
    # Zoom like a person: drag across the first part of the chart.
    over = driver.find_element(By.CSS_SELECTOR, "#chart .u-over")

    def drag() -> None:
        width = over.size["width"]
        ActionChains(driver).move_to_element_with_offset(
            over, -width // 2 + 40, 0
        ).click_and_hold().move_by_offset(width // 3, 0).release().perform()

    await asyncio.to_thread(drag)
    await wait_for(
        driver,
        lambda d: d.execute_script("return window.pgextChart.result.start") != first,
        "the zoomed range loaded",
    )
    await wait_for(
        driver,
        lambda d: d.find_element(By.ID, "status").get_attribute("data-buckets"),
        "zoomed data drawn",
    )
    view = (
        "const c = window.pgextChart, x = c.plot.scales.x;"
        "return [x.min, x.max, c.data[0].length];"
    )
    zoomed = driver.execute_script(view)
    assert zoomed[1] < T0.timestamp() + 4 * 3600  # a past range, not "now"
    row = {
        "ts": (T0 + timedelta(hours=7)).isoformat(),
        "sensor": "sensor 1",
        "sensor_id": 1,
        "value": 99.0,
    }
    await publish_until_seen(driver, chart_app[1], row)
    assert driver.execute_script(view) == zoomed
    status = driver.find_element(By.ID, "status").text
    assert "live row(s) after the shown range" in status
    await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "chart-zoomed.png"))

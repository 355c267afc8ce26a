"""The playground command, run for real as a subprocess (``python -m
pgext.playground``, what ``scripts/playground`` runs after set-up).

It starts its own throwaway servers unless ``PGEXT_POSTGRES_DSN`` /
``PGEXT_TIMESCALE_DSN`` name servers (then it uses those, as in CI).  The
tests keep the data small with ``--size tiny``.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from pgext.playground import data, examples
from tests.playground.helpers import (
    ARTIFACTS,
    Running,
    Terminal,
    chromium,
    port_open,
    run,
    server_ports,
)

pytestmark = [pytest.mark.postgres, pytest.mark.timescale]

_EXAMPLES = re.compile(r"All (\d+) examples of the tutorial ran\.")


def _examples_in_tutorial() -> int:
    text = examples.tutorial_text()
    return len(re.findall(r"^```python\n", text, re.M))


def _check_examples_output(output: str) -> None:
    found = _EXAMPLES.search(output)
    assert found, output[-3000:]
    assert int(found.group(1)) == _examples_in_tutorial() >= 10
    # Progress of the bulk loads and the sizes are reported.
    assert "venues: 300 / 300 rows" in output
    assert "readings (TimescaleDB): 4,000 / 4,000 rows" in output
    assert "Ready in" in output and "readings: 4,000" in output
    # Results are printed: the GeoJSON example's features, a joined name.
    assert "'type': 'Feature'" in output and "district.name" in output


def test_readme_command_runs_the_examples(tmp_path: Path) -> None:
    """``scripts/playground`` (set-up, then the playground) with
    --run-examples: servers up, data in, every tutorial example run, and
    everything it started stopped again."""
    output = run("--size", "tiny", "--run-examples", home=tmp_path, script=True)
    _check_examples_output(output)
    for port in server_ports(output):
        assert not port_open(port), f"port {port} still open after exit"


@pytest.mark.parametrize(("size", "venues"), [("small", "2,000"), ("medium", "10,000")])
def test_the_tutorial_holds_on_more_data(
    tmp_path: Path, size: str, venues: str
) -> None:
    """The tutorial's claims (nearest first in the order of the distances it
    prints, equal to a raw full sort, ...) hold beyond the tiny data the
    other tests use; large runs in the benchmarks' time, not CI's."""
    output = run("--size", size, "--run-examples", home=tmp_path)
    found = _EXAMPLES.search(output)
    assert found and int(found.group(1)) == _examples_in_tutorial(), output[-3000:]
    assert f"venues: {venues} / {venues} rows" in output


async def test_twice_in_a_row_on_given_servers(
    tmp_path: Path, postgres_dsn: str, timescale_config: dict[str, Any]
) -> None:
    """Servers named by the environment (this test session's): the second
    run rebuilds what the first made, and both servers keep running."""
    env = {
        "PGEXT_POSTGRES_DSN": postgres_dsn,
        "PGEXT_TIMESCALE_DSN": str(timescale_config["dsn"]),
        "PGEXT_TIMESCALE_SHARED_SESSION": "1" if "ssl" in timescale_config else "0",
    }
    for _ in range(2):
        output = await asyncio.to_thread(
            run, "--size", "tiny", "--run-examples", home=tmp_path, env=env
        )
        _check_examples_output(output)
        assert "PGEXT_POSTGRES_DSN" in output and "PGEXT_TIMESCALE_DSN" in output
        assert "The servers given by the environment keep running." in output
    for config in ({"dsn": postgres_dsn}, timescale_config):
        connection = await asyncpg.connect(**config)
        try:
            assert await connection.fetchval("SELECT count(*) FROM venue") == 300
        except asyncpg.UndefinedTableError:
            # The TimescaleDB server holds only the time-series tables.
            assert await connection.fetchval("SELECT count(*) FROM reading") == 4000
        finally:
            await connection.close()


def test_run_examples_without_timescaledb(tmp_path: Path) -> None:
    """No TimescaleDB: readings in a plain table, HourlyReading a date_bin
    view, and the tutorial still runs (and says so)."""
    output = run("--size", "tiny", "--run-examples", "--no-timescale", home=tmp_path)
    assert "No TimescaleDB" in output and "date_bin" in output
    assert "readings (PostgreSQL): 4,000 / 4,000 rows" in output
    assert _EXAMPLES.search(output), output[-3000:]


def test_shell_evaluates_queries_with_top_level_await(tmp_path: Path) -> None:
    """The IPython shell starts with the tables imported and the pools on
    its loop: top-level await works, across cells, and leaving it stops the
    servers."""
    cells = "\n".join(
        [
            "await Venue.count()",
            "rows = await HourlyReading.select().limit(3)",
            "len(rows)",
            "centre = Point(13.40, 52.52)",
            "near = await Venue.select(Venue.name).order_by("
            "Venue.location.knn(centre)).limit(1)",
            "type(near[0]['name']).__name__",
            "exit()",
            "",
        ]
    )
    output = run("--size", "tiny", home=tmp_path, stdin=cells)
    assert "IPython" in output and "Try (top-level await works)" in output
    assert "class Venue(Table):" in output and "class HourlyReading(" in output
    assert re.search(r"Out\[1\]: 300\b", output), output[-3000:]
    assert re.search(r"Out\[3\]: 3\b", output), output[-3000:]
    assert re.search(r"Out\[6\]: 'str'", output), output[-3000:]
    assert "Error" not in output.split("Try (top-level await works)")[1]
    for port in server_ports(output):
        assert not port_open(port)


def test_shell_in_a_terminal_survives_ctrl_c_at_the_prompt(tmp_path: Path) -> None:
    """In a real terminal Ctrl-C reaches the whole foreground process group:
    at the prompt it only clears the line, and the TimescaleDB (a child
    process) must survive it; during a cell it cancels the cell.  Ctrl-D
    leaves and stops the servers."""
    terminal = Terminal("--size", "tiny", home=tmp_path)
    try:
        terminal.wait_for(r"^In \[1\]:", timeout=150)
        started = server_ports(terminal.screen())
        terminal.keys("await Reading.count()", "Enter")
        terminal.wait_for(r"^Out\[1\]: 4000")
        terminal.keys("C-c")
        terminal.keys("await asyncio.sleep(60)", "Enter")
        time.sleep(1)
        terminal.keys("C-c")
        terminal.wait_for(r"CancelledError|KeyboardInterrupt")
        terminal.keys("await HourlyReading.count() > 0", "Enter")
        terminal.wait_for(r"^Out\[\d+\]: True")
        terminal.keys("C-d")
        assert terminal.exit_code() == 0
        assert "Stopped the servers the playground started" in terminal.screen()
        for port in started:
            assert not port_open(port)
    finally:
        terminal.close()


@pytest.mark.browser
def test_admin_pages_load_in_chromium_and_ctrl_c_cleans_up(tmp_path: Path) -> None:
    """--admin serves Piccolo Admin and the pgext widgets with the printed
    demo login; the chart shows readings published live in the background;
    Ctrl-C stops the web server and the servers the playground started."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    playground = Running("--size", "tiny", "--admin", "--port", "0", home=tmp_path)
    try:
        url = playground.wait_for(r"Piccolo Admin: (http://127\.0\.0\.1:\d+)/admin/")[1]
        password = playground.wait_for(r"login: admin / (\S+)")[1]
        links = dict(
            re.findall(
                r"^    (Map: \w+|Chart: [\w ()]+): (\S+)$", playground.output, re.M
            )
        )
        started = server_ports(playground.output)
        assert httpx.get(f"{url}/admin/").status_code == 200
        assert httpx.get(f"{url}/widgets/api/widgets").status_code == 401

        with chromium() as browser:
            wait = WebDriverWait(browser, 30)
            browser.get(f"{url}/admin/")
            wait.until(lambda d: d.find_elements(By.NAME, "username"))
            browser.find_element(By.NAME, "username").send_keys("admin")
            browser.find_element(By.NAME, "password").send_keys(password)
            browser.find_element(By.CSS_SELECTOR, "form button").click()
            wait.until(lambda d: "login" not in d.current_url)

            browser.get(f"{url}/admin/#/venue")
            wait.until(lambda d: "coordinates" in d.page_source)
            # Foreign keys show the district's name (District.get_readable).
            names = data.districts(data.SIZES["tiny"])["name"]
            assert any(f">{name}<" in browser.page_source for name in names)
            assert "Map: venues" in browser.page_source
            browser.save_screenshot(str(ARTIFACTS / "admin-venues.png"))

            # The row form shows maps (a location picker, a shape editor)
            # instead of text boxes; districts get the rectangle tool.
            browser.get(f"{url}/admin/#/venue/1/")
            wait.until(
                lambda d: d.find_elements(
                    By.CSS_SELECTOR,
                    ".pgext-form-map[data-editor=location] .leaflet-marker-icon",
                )
            )
            wait.until(
                lambda d: d.find_elements(
                    By.CSS_SELECTOR,
                    ".pgext-form-map[data-column=footprint] path.leaflet-interactive",
                )
            )
            assert not browser.find_element(
                By.CSS_SELECTOR, "form input[name=location]"
            ).is_displayed()
            browser.save_screenshot(str(ARTIFACTS / "admin-form-venue.png"))
            browser.get(f"{url}/admin/#/district/1/")
            wait.until(
                lambda d: d.find_elements(
                    By.CSS_SELECTOR,
                    ".pgext-form-map[data-editor=box] .leaflet-pm-icon-rectangle",
                )
            )

            if not links:
                pytest.skip("pgext.admin is not importable: widgets not served")
            browser.get(url + links["Map: venues"])
            wait.until(
                lambda d: re.search(
                    r"\b300 rows shown", d.find_element(By.TAG_NAME, "body").text
                )
            )
            time.sleep(1)  # let the tiles of markers paint
            browser.save_screenshot(str(ARTIFACTS / "map-venues.png"))
            browser.get(url + links["Map: districts"])
            wait.until(
                lambda d: re.search(
                    r"\b8 rows shown", d.find_element(By.TAG_NAME, "body").text
                )
            )
            browser.save_screenshot(str(ARTIFACTS / "map-districts.png"))

            browser.get(url + links["Chart: readings (live)"])
            buckets = wait.until(
                lambda d: d.find_element(By.ID, "status").get_attribute("data-buckets")
            )
            assert int(buckets) >= 2
            assert browser.find_elements(By.CSS_SELECTOR, "#chart canvas")
            # The background publisher's readings arrive live.
            wait.until(
                lambda d: (
                    int(d.find_element(By.ID, "live").get_attribute("data-events") or 0)
                    >= 3
                )
            )
            events = browser.find_element(By.ID, "events").text
            assert '"sensor_id":' in events and '"temperature":' in events
            browser.save_screenshot(str(ARTIFACTS / "chart-readings-live.png"))

            # The hourly aggregate is drawn in (and labelled with) its own
            # hourly buckets, never finer ones.
            browser.get(url + links["Chart: hourly readings"])
            wait.until(
                lambda d: d.find_element(By.ID, "status").get_attribute("data-width")
            )
            assert (
                int(browser.find_element(By.ID, "status").get_attribute("data-width"))
                % 3600
                == 0
            )
            assert "sensor_id" not in [
                o.get_attribute("value")
                for o in browser.find_elements(By.CSS_SELECTOR, "#value option")
            ]

        children = playground.children()
        assert playground.interrupt() in (0, 130)
        output = playground.output
        assert "Stopped the servers the playground started" in output
        # The login over plain HTTP printed no piccolo_api production notice.
        assert "UserWarning" not in output
        for port in started:
            assert not port_open(port), f"port {port} still open after Ctrl-C"
        assert not port_open(int(url.rsplit(":", 1)[1]))
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid
    finally:
        playground.kill()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_sigterm_while_loading_stops_everything(tmp_path: Path) -> None:
    """Stopped in the middle of the bulk load (SIGTERM, as a service
    manager or a closing terminal does): the throwaway servers go too."""
    playground = Running("--size", "large", "--run-examples", home=tmp_path)
    try:
        playground.wait_for(
            r"readings \((TimescaleDB|PostgreSQL)\): [\d,]+ / 1,000,000"
        )
        started = server_ports(playground.output)
        children = playground.children()
        assert playground.interrupt(signum=signal.SIGTERM) != 0
        assert "1,000,000 / 1,000,000" not in playground.output
        assert "Stopped the servers the playground started" in playground.output
        for port in started:
            assert not port_open(port), f"port {port} still open after SIGTERM"
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid
    finally:
        playground.kill()

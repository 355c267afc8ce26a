"""Run by ``tests/test_install.py`` with the Python of a fresh virtualenv
that has the built wheel installed, from a folder outside the checkout.  It
uses only the standard library and what the wheel installed, and prints one
JSON line (after ``install-check: ``) describing what it found; the test
asserts on that.

    python install_check.py           # imports, README quick-start, widget assets
    python install_check.py assets    # imports and widget assets only

``PGEXT_POSTGRES_DSN`` names the PostgreSQL/PostGIS server to use.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
import os
import pkgutil
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urljoin, urlsplit

MARKER = "install-check: "
PREFIX = "inst_check"
USERNAME = f"{PREFIX}_admin"
PASSWORD = "install-check-password-42"


def import_everything() -> dict[str, Any]:
    import pgext

    names = [pgext.__name__]
    for info in pkgutil.walk_packages(pgext.__path__, prefix="pgext."):
        names.append(info.name)
    for name in names:
        importlib.import_module(name)
    meta = importlib.metadata.metadata("piccolo-pgext")
    return {
        "pgext_file": pgext.__file__,
        "sys_path": sys.path,
        "cwd": os.getcwd(),
        "modules": names,
        "version": pgext.__version__,
        "dist_version": meta["Version"],
        "editable_finders": [
            type(finder).__name__
            for finder in sys.meta_path
            if "editable" in type(finder).__module__.lower()
        ],
    }


def run_quick_start() -> str:
    """The README's quick-start block, as the index shows it: the README is
    the distribution's long description."""
    text = importlib.metadata.distribution("piccolo-pgext").read_text("METADATA")
    assert text is not None
    readme = text.split("\n\n", 1)[1]  # the body after the headers
    found = re.search(r"^## Quick start\n.*?^```python\n(.*?)^```", readme, re.S | re.M)
    assert found, "no quick-start block in the installed README"
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(found.group(1), "README.md (quick start)", "exec"), namespace)
    return found.group(1)


# -- the widgets, served for real ----------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "img") and found.get("src"):
            self.assets.append(str(found["src"]))
        elif tag == "link" and found.get("href"):
            self.assets.append(str(found["href"]))
        elif tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _prepare_tables() -> list[Any]:
    from piccolo.apps.user.tables import BaseUser
    from piccolo.columns import DoublePrecision, Timestamptz, Varchar
    from piccolo.table import Table
    from piccolo_api.session_auth.tables import SessionsBase

    from pgext import PgextEngine, seam
    from pgext.postgis import Geometry

    db = PgextEngine(config={"dsn": os.environ["PGEXT_POSTGRES_DSN"]})

    class InstShop(Table, tablename=f"{PREFIX}_shop", db=db):
        name = Varchar(length=50)
        location = Geometry("Point", srid=4326)

    class InstReading(Table, tablename=f"{PREFIX}_reading", db=db):
        ts = Timestamptz()
        device = Varchar(length=20)
        value = DoublePrecision()

    # The admin's user and session tables may hold other users: keep them.
    for table in (BaseUser, SessionsBase):
        seam.bind_engine(table, db)
        await table.create_table(if_not_exists=True)
    await BaseUser.delete().where(BaseUser.username == USERNAME)
    await BaseUser.create_user(
        username=USERNAME,
        password=PASSWORD,
        email=f"{USERNAME}@example.com",
        admin=True,
        active=True,
    )
    for table in (InstShop, InstReading):
        await table.alter().drop_table(if_exists=True)
        await table.create_table()
    await InstShop.insert(InstShop(name="one", location="POINT(13.4 52.5)"))
    return [InstShop, InstReading]


def serve_widgets() -> dict[str, Any]:
    """Piccolo Admin with ``create_widgets_app`` beside it, on uvicorn; log
    in, open every widget page and fetch every script, stylesheet and image
    they reference (and the images their stylesheets reference)."""
    import uvicorn
    from piccolo.apps.user.tables import BaseUser
    from piccolo_admin.endpoints import create_admin
    from piccolo_api.session_auth.tables import SessionsBase
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from pgext.admin import create_widgets_app

    tables = asyncio.run(_prepare_tables())
    widgets = create_widgets_app(tables, admin_path="/admin/")
    admin = create_admin(
        tables,
        auth_table=BaseUser,
        session_table=SessionsBase,
        sidebar_links=widgets.sidebar_links,
    )
    assert widgets.add_to_forms(admin)  # maps in the admin's own forms
    app = Starlette(routes=[Mount("/admin/", admin), widgets.mount()])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return _crawl(f"http://127.0.0.1:{port}", widgets.base)
    finally:
        server.should_exit = True
        thread.join(10)


def _crawl(origin: str, widgets_base: str) -> dict[str, Any]:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{origin}/admin/").read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    login = urllib.request.Request(
        f"{origin}/admin/public/login/",
        data=json.dumps({"username": USERNAME, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": str(csrf)},
        method="POST",
    )
    opener.open(login).read()
    index = f"{origin}{widgets_base}/"
    pages = [index]
    statuses: dict[str, int] = {}
    assets: list[str] = []
    # The admin's page loads the form widgets' files (pgext.admin.form).
    admin_page = opener.open(f"{origin}/admin/").read().decode()
    loader = re.search(
        r"<script data-pgext-form>.*\}\)\((\{.*?\})\);</script>", admin_page, re.S
    )
    assert loader, "the admin's page has no form widget loader"
    form = json.loads(loader.group(1).replace("<\\/", "</"))
    assets += [
        f"{origin}{form['static']}/{n}" for n in form["styles"] + form["scripts"]
    ]
    assert form["basemap"], "the form maps have no offline basemap"
    assets.append(f"{origin}{form['basemap']}")
    for page in pages:
        with opener.open(page) as response:
            statuses[page] = response.status
            body = response.read().decode()
        parser = _Assets()
        parser.feed(body)
        assets += [
            urljoin(page, a) for a in parser.assets if urljoin(page, a) not in assets
        ]
        for link in parser.links:
            url = urljoin(page, link)
            if url.startswith(index) and url not in pages:
                pages.append(url)
    # Stylesheets reference images (Leaflet's layer and marker icons).
    for asset in list(assets):
        if urlsplit(asset).path.endswith(".css"):
            css = opener.open(asset).read().decode()
            # Inline data URIs (SVGs with url(#fragment) inside) are no files.
            css = re.sub(r"(['\"])data:.*?\1", "''", css)
            for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", css):
                if not ref.startswith(("data:", "#", "%23")):
                    url = urljoin(asset, ref)
                    if url not in assets:
                        assets.append(url)
    for asset in assets:
        try:
            with opener.open(asset) as response:
                statuses[asset] = response.status
                response.read()
        except urllib.error.HTTPError as error:
            statuses[asset] = error.code
    return {"pages": pages, "assets": assets, "statuses": statuses}


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "full"
    found = import_everything()
    if mode == "full":
        found["quick_start"] = run_quick_start()
    found["widgets"] = serve_widgets()
    print(MARKER + json.dumps(found), flush=True)


if __name__ == "__main__":
    main()

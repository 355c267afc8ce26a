"""Wiring: mount_widgets into a list of routes or a Router, errors when
there is nothing to show or no admin to find, create_widgets_app."""

from __future__ import annotations

import pytest
from piccolo.columns import Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from starlette.routing import Mount, Router

from pgext.admin import create_widgets_app, mount_widgets
from pgext.errors import InvalidValue
from tests.admin.conftest import AdmShop


class MntPlain(Table, tablename="mnt_plain"):
    name = Varchar()


def test_mount_into_a_list_of_routes_at_another_path() -> None:
    admin = create_admin([AdmShop])
    routes = [Mount("/backoffice/", admin)]
    widgets = mount_widgets(routes, tables=[AdmShop], path="/geo/")
    assert [r.path for r in routes] == ["/backoffice", "/geo"]  # type: ignore[attr-defined]
    assert widgets.options.admin_path == "/backoffice/"
    assert admin.sidebar_links == {"Map: adm_shop": "/geo/map/adm_shop"}
    # A second admin keeps its own (default, shared) sidebar dict untouched.
    assert create_admin([AdmShop]).sidebar_links == {}


def test_mount_into_a_router_without_an_admin_needs_admin_path() -> None:
    router = Router(routes=[])
    with pytest.raises(InvalidValue, match="admin_path"):
        mount_widgets(router, tables=[AdmShop])
    widgets = mount_widgets(router, tables=[AdmShop], admin_path="/staff/")
    assert widgets.options.admin_path == "/staff/"
    assert len(router.routes) == 1


def test_refusals() -> None:
    with pytest.raises(InvalidValue, match="no widget to show"):
        create_widgets_app([MntPlain])
    with pytest.raises(InvalidValue, match="must start with '/'"):
        create_widgets_app([AdmShop], path="widgets/")
    with pytest.raises(InvalidValue, match="Starlette app"):
        mount_widgets(object(), tables=[AdmShop], admin_path="/admin/")


def test_create_widgets_app_gives_links_and_a_mount() -> None:
    widgets = create_widgets_app([AdmShop], admin_path="/a/")
    assert widgets.sidebar_links == {"Map: adm_shop": "/widgets/map/adm_shop"}
    assert widgets.mount().path == "/widgets"
    assert widgets.hub is None  # no time series: no pub/sub needed

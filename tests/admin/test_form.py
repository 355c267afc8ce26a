"""Declaring a geometry column's form editor, and how the form widgets get
into Piccolo Admin's page (no browser: what the page and schema carry)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Varchar
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.routing import Mount

from pgext.admin import create_widgets_app, mount_widgets
from pgext.editors import map_editor
from pgext.errors import InvalidValue
from pgext.postgis import Geometry
from pgext.widgets import create_pydantic_model


class EdPlace(Table, tablename="ed_place"):
    name = Varchar()
    spot = Geometry("Point", srid=4326)
    extent = map_editor(Geometry("Polygon", srid=4326), "box")
    outline = Geometry("Polygon", srid=4326)


def _field(table: type[Table], name: str) -> dict[str, Any]:
    schema = create_pydantic_model(table).model_json_schema()
    return dict(schema["properties"][name]["anyOf"][0])


def test_the_editor_is_in_the_columns_schema_only() -> None:
    assert _field(EdPlace, "extent")["x-editor"] == "box"
    # Other columns of the same declaration are untouched, and the
    # migrations' view of the column does not carry the hint.
    assert "x-editor" not in _field(EdPlace, "outline")
    assert "x-editor" not in _field(EdPlace, "spot")
    assert EdPlace.extent._meta.params == EdPlace.outline._meta.params
    # Values still validate as the column's geometries.
    value = EdPlace.extent.value_type.validate("POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))")
    assert '"Polygon"' in value
    with pytest.raises(Exception, match="Point"):
        EdPlace.extent.value_type.validate("POINT(1 2)")


def test_bad_editor_declarations_are_refused() -> None:
    with pytest.raises(InvalidValue, match="makes Point values"):
        map_editor(Geometry("Polygon"), "location")
    with pytest.raises(InvalidValue, match="makes Polygon values"):
        map_editor(Geometry("LineString"), "box")
    with pytest.raises(InvalidValue, match="one of"):
        map_editor(Geometry("Point"), "pin")
    with pytest.raises(InvalidValue, match="pgext Geometry"):
        map_editor(Varchar(), "box")


def _app(**options: Any) -> tuple[Starlette, Any]:
    admin = create_admin([EdPlace], auth_table=BaseUser, session_table=SessionsBase)
    app = Starlette(routes=[Mount("/admin/", admin)])
    mount_widgets(app, tables=[EdPlace], **options)
    return app, admin


async def _admin_page(app: Starlette) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/admin/")
        assert response.status_code == 200
        return response.text


async def test_mount_widgets_puts_the_loader_into_the_admins_page() -> None:
    app, admin = _app(path="/geo/")
    page = await _admin_page(app)
    assert page.count("data-pgext-form") == 1
    assert '"static": "/geo/static"' in page and '"admin": "/admin"' in page
    # Once only, however often it is added.
    widgets = create_widgets_app([EdPlace], path="/geo/")
    assert widgets.add_to_forms(admin)
    assert (await _admin_page(app)).count("data-pgext-form") == 1


async def test_form_widgets_can_be_left_out() -> None:
    app, _ = _app(form_widgets=False)
    assert "data-pgext-form" not in await _admin_page(app)

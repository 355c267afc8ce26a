"""The map widget's JSON API: features by bounding box, the extent, one
row, one feature at full resolution with its version, the form of a new
row, and the editor's writes (draw, move, erase, delete the row), each after
the admin's rules for the table (:mod:`pgext.admin.rules`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pgext.admin import edits, fields, geo, params, shapes
from pgext.admin.errors import BadRequest, json_errors
from pgext.admin.registry import Registry
from pgext.admin.rules import TableRules


class MapSettings(Protocol):
    """What the map's API reads of the app's options."""

    path: str
    admin_path: str
    max_features: int


class MapApi:
    """Mounted at ``<widgets>/api/map``; ``rules`` gives a table's rules by
    name (they change when the widgets :meth:`~WidgetsApp.obey` an admin)."""

    def __init__(
        self,
        registry: Registry,
        rules: Callable[[str], TableRules],
        settings: MapSettings,
    ) -> None:
        self.registry = registry
        self.rules = rules
        # The app's options object, read per request (it may be changed).
        self.settings = settings

    def routes(self) -> list[BaseRoute]:
        # ``row_id``: the admin's name for it, which validators may read.
        features = "/{table}/features"
        feature = "/{table}/features/{row_id}"
        row = "/{table}/rows/{row_id}"
        return [
            Route(features, json_errors(self.features), methods=["GET"]),
            Route(features, json_errors(self.create), methods=["POST"]),
            Route(feature, json_errors(self.feature), methods=["GET"]),
            Route(feature, json_errors(self.update), methods=["PATCH", "PUT"]),
            Route(feature, json_errors(self.clear), methods=["DELETE"]),
            Route(row, json_errors(self.row), methods=["GET"]),
            Route(row, json_errors(self.delete_row), methods=["DELETE"]),
            Route("/{table}/extent", json_errors(self.map_extent), methods=["GET"]),
            Route("/{table}/form", json_errors(self.form), methods=["GET"]),
        ]

    def _admin_path(self, request: Request) -> str:
        # The API is mounted at <widgets>/api/map: its root_path ends so.
        base = self.settings.path.rstrip("/") + "/api/map"
        return params.mount_prefix(request.scope, base) + self.settings.admin_path

    async def features(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        await self.rules(entry.name).check("get_all", request)
        query = request.query_params
        column = entry.geometry_column(query.get("column") or None)
        view = params.bbox(query.get("bbox"))
        zoom = params.integer(query, "zoom", 2, 0, 24)
        cap = self.settings.max_features
        limit = params.integer(query, "limit", cap, 1, cap)
        text = await geo.features(entry, column, view, zoom, limit)
        return Response(text, media_type="application/geo+json")

    async def map_extent(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        await self.rules(entry.name).check("get_all", request)
        column = entry.geometry_column(request.query_params.get("column") or None)
        box = await geo.extent(entry, column)
        return JSONResponse({"bbox": list(box) if box else None})

    async def row(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        pk = edits.parse_pk(entry, request.path_params["row_id"])
        await self.rules(entry.name).check("get_single", request)
        data = await edits.read_row(entry, pk)
        return JSONResponse(
            {
                "table": entry.name,
                "row": data,
                "admin_url": geo.admin_url(self._admin_path(request), entry, pk),
            }
        )

    async def feature(self, request: Request) -> Response:
        """One feature unsimplified, with the version token the editor's
        save must send back (:mod:`pgext.admin.shapes`)."""
        entry = self.registry.map_table(request.path_params["table"])
        pk = edits.parse_pk(entry, request.path_params["row_id"])
        await self.rules(entry.name).check("get_single", request)
        column = entry.geometry_column(request.query_params.get("column") or None)
        return JSONResponse(await shapes.read_feature(entry, column, pk))

    async def form(self, request: Request) -> Response:
        """The fields a drawn feature's row is created with."""
        entry = self.registry.map_table(request.path_params["table"])
        column = entry.geometry_column(request.query_params.get("column") or None)
        return JSONResponse({"fields": fields.describe(entry, column)})

    async def create(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        rules = self.rules(entry.name)
        rules.writable()  # before the body is read
        body = edits.parse_body(await edits.read_body(request))
        column = entry.geometry_column(_column_name(body, request))
        pk = await edits.create(entry, column, body, rules, request)
        return JSONResponse(
            {
                "id": pk,
                "admin_url": geo.admin_url(self._admin_path(request), entry, pk),
            },
            status_code=201,
        )

    async def update(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        rules = self.rules(entry.name)
        rules.writable()  # before the body is read
        pk = edits.parse_pk(entry, request.path_params["row_id"])
        body = edits.parse_body(await edits.read_body(request))
        column = entry.geometry_column(_column_name(body, request))
        joined = await edits.update(entry, column, pk, body, rules, request)
        # The page keeps editing with the version it wrote.
        version = await shapes.current_version(entry, pk)
        return JSONResponse({"id": pk, "joined": joined, "version": version})

    async def clear(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        pk = edits.parse_pk(entry, request.path_params["row_id"])
        column = entry.geometry_column(request.query_params.get("column") or None)
        await edits.clear(entry, column, pk, self.rules(entry.name), request)
        return JSONResponse({"id": pk})

    async def delete_row(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        pk = edits.parse_pk(entry, request.path_params["row_id"])
        await edits.delete_row(entry, pk, self.rules(entry.name), request)
        return JSONResponse({"id": pk, "deleted": True})


def _column_name(body: dict[str, Any], request: Request) -> str | None:
    name = body.get("column", request.query_params.get("column"))
    if name is not None and not isinstance(name, str):
        raise BadRequest("column must be a string")
    return name or None

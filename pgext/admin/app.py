"""The widgets app: a Starlette app mounted beside Piccolo Admin.

One call does everything::

    app = Starlette(routes=[Mount("/admin/", create_admin([Shop, Reading]))])
    widgets = mount_widgets(app, tables=[Shop, Reading])

``mount_widgets`` finds the admin's mount, adds the widget pages to its
sidebar, and mounts the widgets at ``/widgets/``.  The widgets use the admin's
own login (piccolo_api's ``SessionsAuthBackend``, cookie ``id``) and CSRF
protection (``CSRFMiddleware``: cookie ``csrftoken``, header
``X-CSRFToken``): an anonymous API request gets 401, an anonymous page request
is redirected to the admin's login, a write without the token gets 403.
Every request then obeys the admin's rules for its table (read-only mode,
validators, hooks: :mod:`pgext.admin.rules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from piccolo.table import Table
from piccolo_api.csrf.middleware import CSRFMiddleware
from piccolo_api.session_auth.middleware import SessionsAuthBackend
from starlette.applications import Starlette
from starlette.authentication import AuthenticationError
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from pgext import seam
from pgext.admin import pages
from pgext.admin.errors import WidgetError, json_errors
from pgext.admin.live import series_channel
from pgext.admin.map_api import MapApi
from pgext.admin.params import mount_prefix
from pgext.admin.registry import Registry
from pgext.admin.rules import build_rules
from pgext.admin.series import (
    AGGREGATES,
    SeriesLimits,
)
from pgext.admin.series_api import SeriesApi
from pgext.errors import InvalidValue

STATIC = Path(__file__).parent / "static"


@dataclass
class WidgetsOptions:
    """What the widgets app may be configured with."""

    path: str = "/widgets/"
    admin_path: str = "/admin/"
    #: A tile URL template (``https://.../{z}/{x}/{y}.png``) or None for the
    #: plain background, which needs no network.
    tile_url: str | None = None
    tile_attribution: str = ""
    max_features: int = 2000
    series: SeriesLimits = field(default_factory=SeriesLimits)
    #: Tables the map may edit although Piccolo Admin does not serve them
    #: (no admin validators or hooks exist for them); the others are
    #: read-only in the widgets.
    editable_outside_admin: Sequence[type[Table]] = ()
    #: Maps and charts inside Piccolo Admin's add/edit forms
    #: (:mod:`pgext.admin.form`); ``mount_widgets`` adds them when True.
    form_widgets: bool = True


class WidgetsApp:
    """The widgets of ``tables`` as an ASGI app (see :func:`mount_widgets`).

    ``asgi`` is the app wrapped in the admin's session authentication and
    CSRF middleware; ``admin`` is the ``create_admin(...)`` app whose rules
    the widgets obey (see :meth:`obey`); ``sidebar_links`` are the entries for
    ``create_admin(sidebar_links=...)``; call :meth:`close` on shutdown to
    stop live streams.
    """

    def __init__(
        self,
        tables: Sequence[type[Table]],
        *,
        options: WidgetsOptions | None = None,
        hub: Any = None,
        auth_table: Any = None,
        session_table: Any = None,
        admin: Any = None,
    ) -> None:
        self.options = options or WidgetsOptions()
        if not self.options.path.startswith("/"):
            raise InvalidValue(f"path must start with '/', got {self.options.path!r}")
        self.registry = Registry.build(tables)
        if not self.registry.tables:
            raise InvalidValue(
                "none of the tables has a geometry or time column: no widget to show"
            )
        # The admin's rules (read-only, validators, hooks) per table.
        self.obey(admin)
        self.series_api = SeriesApi(
            self.registry, lambda name: self.rules[name], lambda: self.options.series
        )
        self.map_api = MapApi(
            self.registry,
            lambda name: self.rules[name],
            self.options,
        )
        self.hub = hub
        self._own_hub = False
        self.bridge: Any = None
        live_tables = [e.table for e in self.registry.tables.values() if e.series]
        live_routes: list[BaseRoute] = []
        if live_tables:
            from pgext.pubsub import Hub
            from pgext.pubsub.bridge import Bridge

            if self.hub is None:
                self.hub = Hub(seam.table_engine(live_tables[0]))
                self._own_hub = True
            self.bridge = Bridge(
                self.hub,
                {seam.table_name(t): series_channel(t) for t in live_tables},
                authorize=self._may_stream,
                heartbeat=10.0,
            )
            live_routes = self.bridge.routes()
        inner = Starlette(
            routes=[
                Route("/", json_errors(self.index)),
                Route("/map/{table}", json_errors(self.map_page)),
                Route("/series/{table}", json_errors(self.series_page)),
                Route("/api/widgets", json_errors(self.api_widgets)),
                Mount("/api/map", routes=self.map_api.routes()),
                Mount("/api/series", routes=self.series_api.routes()),
                Mount("/api/live", routes=live_routes),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
            ]
        )
        from piccolo.apps.user.tables import BaseUser
        from piccolo_api.session_auth.tables import SessionsBase

        self.asgi: ASGIApp = AuthenticationMiddleware(
            CSRFMiddleware(inner),
            backend=SessionsAuthBackend(
                auth_table=auth_table or BaseUser,
                session_table=session_table or SessionsBase,
                admin_only=True,
            ),
            on_error=self._unauthenticated,
        )

    # -- wiring --------------------------------------------------------------------

    @property
    def base(self) -> str:
        return self.options.path.rstrip("/")

    @property
    def sidebar_links(self) -> dict[str, str]:
        links: dict[str, str] = {}
        for name, entry in sorted(self.registry.tables.items()):
            if entry.maps:
                links[f"Map: {name}"] = f"{self.base}/map/{name}"
            if entry.series:
                links[f"Chart: {name}"] = f"{self.base}/series/{name}"
        return links

    def obey(self, admin: Any) -> None:
        """Apply the rules of ``admin`` (the ``create_admin(...)`` app) from
        now on: for when the admin is made after the widgets (it takes their
        ``sidebar_links``).  ``mount_widgets`` does this itself."""
        self.rules = build_rules(
            [e.table for e in self.registry.tables.values()],
            admin,
            self.options.editable_outside_admin,
        )

    def add_to_forms(self, admin: Any) -> bool:
        """Show maps and charts in ``admin``'s add/edit forms (see
        :mod:`pgext.admin.form`); ``mount_widgets`` does this itself."""
        from pgext.admin import form

        config = form.form_config(
            self.base,
            self.options.admin_path,
            tile_url=self.options.tile_url,
            tile_attribution=self.options.tile_attribution,
        )
        return form.install(admin, config)

    def mount(self) -> Mount:
        return Mount(self.base, app=self.asgi)

    async def close(self) -> None:
        if self.bridge is not None:
            await self.bridge.close()
        if self._own_hub and self.hub is not None:
            await self.hub.close()

    async def _may_stream(self, connection: HTTPConnection, channel: Any) -> bool:
        """A live chart is a read of the table: logged in, and the admin's
        ``get_all`` validators allow it."""
        from starlette.exceptions import HTTPException

        from pgext.pubsub.bridge import authenticated

        authenticated(connection, channel)
        rules = self.rules.get(connection.path_params.get("channel", ""))
        if rules is not None:
            try:
                await rules.check("get_all", connection)
            except WidgetError as error:
                raise HTTPException(error.status, str(error)) from error
        return True

    def _unauthenticated(
        self, conn: HTTPConnection, error: AuthenticationError
    ) -> Response:
        if "/api/" in conn.url.path or conn.scope["type"] != "http":
            return JSONResponse({"error": f"login required: {error}"}, status_code=401)
        return RedirectResponse(
            f"{self.options.admin_path.rstrip('/')}/#/login/", status_code=303
        )

    # -- pages ---------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        outer = mount_prefix(request.scope, self.base)
        links = {label: outer + url for label, url in self.sidebar_links.items()}
        return HTMLResponse(
            pages.index(outer + self.base, outer + self.options.admin_path, links)
        )

    async def map_page(self, request: Request) -> Response:
        entry = self.registry.map_table(request.path_params["table"])
        outer = mount_prefix(request.scope, self.base)
        return HTMLResponse(
            pages.map_page(
                outer + self.base,
                outer + self.options.admin_path,
                entry.name,
                entry.maps,
                tile_url=self.options.tile_url,
                tile_attribution=self.options.tile_attribution,
                max_features=self.options.max_features,
                read_only_reason=self.rules[entry.name].read_only_reason,
            )
        )

    async def series_page(self, request: Request) -> Response:
        entry = self.registry.series_table(request.path_params["table"])
        assert entry.series is not None
        outer = mount_prefix(request.scope, self.base)
        return HTMLResponse(
            pages.series_page(
                outer + self.base,
                outer + self.options.admin_path,
                entry.name,
                entry.series,
                aggregates=list(AGGREGATES),
                max_points=self.options.series.max_points,
                default_points=self.options.series.default_points,
            )
        )

    # -- JSON API ------------------------------------------------------------------

    async def api_widgets(self, request: Request) -> Response:
        tables = self.registry.describe()
        for table in tables:
            # Whether the map may edit it, and if not why (the admin's rules).
            table["read_only_reason"] = self.rules[table["table"]].read_only_reason
        return JSONResponse({"admin_path": self.options.admin_path, "tables": tables})


# -- the one call -------------------------------------------------------------------


def _routes_of(target: Any) -> list[BaseRoute]:
    if isinstance(target, list):
        return target
    if isinstance(target, Router):
        return target.routes
    router = getattr(target, "router", None)
    if isinstance(router, Router):
        return router.routes
    raise InvalidValue(
        "mount_widgets needs a Starlette app, a Router or a list of routes"
    )


def _find_admin(routes: list[BaseRoute]) -> tuple[str, Any] | None:
    from piccolo_admin.endpoints import AdminRouter

    for route in routes:
        if isinstance(route, Mount) and isinstance(route.app, AdminRouter):
            return route.path + "/", route.app
    return None


def mount_widgets(
    target: Any,
    tables: Sequence[type[Table]],
    *,
    path: str = "/widgets/",
    admin_path: str | None = None,
    hub: Any = None,
    **options: Any,
) -> WidgetsApp:
    """Mount the widgets of ``tables`` into ``target`` (a Starlette app, a
    Router or a list of routes) beside Piccolo Admin, and add their pages to
    the admin's sidebar.

    The admin's mount (``Mount("/admin/", create_admin(...))``) is found in
    ``target``; its path is where the widgets link to (edit pages, login),
    its user/session tables are the ones the widgets check, and its
    read-only mode and ``TableConfig`` validators and hooks are the rules the
    map's edits obey (a table it does not serve is read-only unless listed in
    ``editable_outside_admin``).  Other keyword
    arguments are :class:`WidgetsOptions` fields (``tile_url``,
    ``max_features`` ...).  Returns the :class:`WidgetsApp` (``await
    widgets.close()`` on shutdown).
    """
    routes = _routes_of(target)
    found = _find_admin(routes)
    admin = found[1] if found else None
    if admin_path is None:
        if found is None:
            raise InvalidValue(
                "no Piccolo Admin mount found; pass admin_path= (where the admin is)"
            )
        admin_path = found[0]
    widgets = WidgetsApp(
        tables,
        options=WidgetsOptions(path=path, admin_path=admin_path, **options),
        hub=hub,
        auth_table=getattr(admin, "auth_table", None),
        admin=admin,
    )
    if admin is not None:
        # AdminRouter serves ``sidebar_links`` per request; a new dict (never
        # an update in place: its default is a shared ``{}``).
        admin.sidebar_links = {**admin.sidebar_links, **widgets.sidebar_links}
        if widgets.options.form_widgets:
            widgets.add_to_forms(admin)
    routes.append(widgets.mount())
    return widgets


def create_widgets_app(
    tables: Sequence[type[Table]],
    *,
    path: str = "/widgets/",
    admin_path: str = "/admin/",
    hub: Any = None,
    admin: Any = None,
    **options: Any,
) -> WidgetsApp:
    """The widgets without mounting them: mount ``widgets.mount()`` yourself
    and pass ``widgets.sidebar_links`` to ``create_admin``.  ``admin`` is the
    ``create_admin(...)`` app whose rules the widgets obey; without it every
    table is read-only unless listed in ``editable_outside_admin``."""
    return WidgetsApp(
        tables,
        options=WidgetsOptions(path=path, admin_path=admin_path, **options),
        hub=hub,
        admin=admin,
    )

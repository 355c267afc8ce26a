"""Admin widgets beside Piccolo Admin: a map widget for tables with geometry
columns and a time-series widget for hypertables (or any table with a time
column), behind the admin's own login and CSRF protection.

::

    app = Starlette(routes=[Mount("/admin/", create_admin([Shop, Reading]))])
    widgets = mount_widgets(app, tables=[Shop, Reading])

See ``docs/admin.md``.
"""

from pgext.admin.app import (
    WidgetsApp,
    WidgetsOptions,
    create_widgets_app,
    mount_widgets,
)
from pgext.admin.errors import BadRequest, NotFound, TooLarge, WidgetError
from pgext.admin.live import series_channel
from pgext.admin.series import SeriesLimits

__all__ = [
    "BadRequest",
    "NotFound",
    "SeriesLimits",
    "TooLarge",
    "WidgetError",
    "WidgetsApp",
    "WidgetsOptions",
    "create_widgets_app",
    "mount_widgets",
    "series_channel",
]

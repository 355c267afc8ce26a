"""Piccolo Admin and piccolo_api.

The admin's per-table rules are plain attributes of ``AdminRouter`` and
``PiccoloCRUD`` but not documented API; the widgets apply them to their own
writes, so they are read here only.  Verified against piccolo_admin 1.14 and
piccolo_api 1.11.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgext.seam.tables import table_name

if TYPE_CHECKING:
    from piccolo.table import Table


def admin_read_only(admin: Any) -> bool:
    """``AdminRouter.read_only`` (``create_admin(read_only=True)``)."""
    return bool(admin.read_only)


def admin_table_config(admin: Any, table: type[Table]) -> Any | None:
    """The ``TableConfig`` the admin holds for ``table``
    (``AdminRouter.table_config_map``, keyed by table name), or None when the
    admin does not serve the table."""
    config = admin.table_config_map.get(table_name(table))
    return config


def crud_hooks(crud: Any) -> dict[Any, list[Any]]:
    """``PiccoloCRUD._hook_map``: the hooks grouped by type exactly as the
    admin's CRUD endpoints run them."""
    hooks: dict[Any, list[Any]] | None = crud._hook_map
    return hooks or {}


async def run_crud_validators(crud: Any, endpoint: str, request: Any) -> None:
    """Run ``crud``'s validators for ``endpoint`` (``post_single``,
    ``patch_single``, ``delete_single``, ``get_single``, ``get_all``) the way
    piccolo_api does: its ``apply_validators`` picks the list by the wrapped
    method's ``__name__``, adds ``every``, passes ``extra_context`` and turns
    any other exception into a 400 "Validation error"."""
    from piccolo_api.crud.validators import apply_validators

    async def endpoint_stub(crud: Any, request: Any) -> None:
        return None

    endpoint_stub.__name__ = endpoint
    checked = apply_validators(endpoint_stub)  # type: ignore[no-untyped-call]
    await checked(crud, request=request)


def admin_page_append(admin: Any, html: str) -> bool:
    """Add ``html`` (script tags) at the end of the page Piccolo Admin serves
    at its root: ``AdminRouter.template``, the ``index.html`` text its
    ``get_root`` returns.  Piccolo Admin has no hook for extra scripts; this
    is the patch point a contribution would turn into a ``create_admin``
    parameter.  Idempotent; False when the page has no ``</body>``.
    Verified against piccolo_admin 1.14."""
    template = str(admin.template)
    if html in template:
        return True
    if "</body>" not in template:
        return False
    admin.template = template.replace("</body>", f"{html}</body>", 1)
    return True

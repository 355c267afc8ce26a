"""*Who may do what* through the widgets: Piccolo Admin's own rules for each
table (read-only mode, the ``TableConfig``'s validators and hooks), applied to
the widgets' endpoints so the map is no side door around the admin.

The admin runs a table's rules inside a ``PiccoloCRUD``; the widgets build one
per table from the same ``TableConfig`` (same table, validators, hooks and
read-only flag) and run its validators and hooks with piccolo_api's own
functions, so a validator sees the same kind of ``PiccoloCRUD`` and request,
and hooks run in the same order with the same arguments.

A table the widgets show but the admin does not serve has no rules to apply:
it is read-only unless the application lists it in ``editable_outside_admin``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from piccolo.table import Table
from piccolo_api.crud.endpoints import PiccoloCRUD
from piccolo_api.crud.hooks import (
    HookType,
    execute_delete_hooks,
    execute_patch_hooks,
    execute_post_hooks,
)
from starlette.exceptions import HTTPException

from pgext import seam
from pgext.admin.errors import Forbidden, WidgetError


@dataclass
class TableRules:
    """The rules for one table.  ``crud`` is None when the admin does not
    serve the table (then no validators or hooks exist)."""

    table: type[Table]
    #: Why writes are refused, or None when they are allowed.
    read_only_reason: str | None
    crud: PiccoloCRUD | None

    def writable(self) -> None:
        """Refuse any write (403) when the table is read-only for the
        widgets; checked first, before anything is read or run."""
        if self.read_only_reason is not None:
            raise Forbidden(self.read_only_reason)

    async def check(self, endpoint: str, request: Any) -> None:
        """Run the admin's validators for its ``endpoint`` (``post_single``,
        ``patch_single``, ``delete_single``, ``get_single``, ``get_all``);
        a refusal keeps the validator's own status and message."""
        if endpoint in ("post_single", "patch_single", "delete_single"):
            self.writable()
        if self.crud is not None:
            with _refusals():
                await seam.run_crud_validators(self.crud, endpoint, request)

    async def pre_save(self, row: Table, request: Any) -> Table:
        """The admin's ``pre_save`` hooks for a new row; returns the row to
        save (a hook may replace it)."""
        if self.crud is None:
            return row
        with _refusals():
            result = await execute_post_hooks(
                hooks=seam.crud_hooks(self.crud),
                hook_type=HookType.pre_save,
                row=row,
                request=request,
            )
        if not isinstance(result, self.table):
            raise WidgetError(
                f"a pre_save hook of {seam.table_name(self.table)!r} returned "
                f"{type(result).__name__}, not the row to save",
                status=500,
            )
        return result

    async def pre_patch(
        self, row_id: Any, values: dict[Any, Any], request: Any
    ) -> dict[Any, Any]:
        """The admin's ``pre_patch`` hooks; ``values`` maps columns to new
        values, as in the admin; returns the values to write."""
        if self.crud is None:
            return values
        with _refusals():
            result = await execute_patch_hooks(
                hooks=seam.crud_hooks(self.crud),
                hook_type=HookType.pre_patch,
                row_id=row_id,
                values=values,
                request=request,
            )
        if not isinstance(result, dict):
            raise WidgetError(
                f"a pre_patch hook of {seam.table_name(self.table)!r} returned "
                f"{type(result).__name__}, not the values to write",
                status=500,
            )
        return result

    async def pre_delete(self, row_id: Any, request: Any) -> None:
        """The admin's ``pre_delete`` hooks (one raising refuses)."""
        if self.crud is None:
            return
        with _refusals():
            await execute_delete_hooks(
                hooks=seam.crud_hooks(self.crud),
                hook_type=HookType.pre_delete,
                row_id=row_id,
                request=request,
            )


@contextmanager
def _refusals() -> Iterator[None]:
    """A validator's or hook's ``HTTPException`` becomes the widgets'
    refusal with the same status and message (the admin's API answers
    ``{"detail": message}``; the widgets answer ``{"error": message}``)."""
    try:
        yield
    except HTTPException as error:
        raise WidgetError(str(error.detail), status=error.status_code) from error


def build_rules(
    tables: Sequence[type[Table]],
    admin: Any | None,
    editable_outside_admin: Sequence[type[Table]] = (),
) -> dict[str, TableRules]:
    """The rules of each table, by table name.  ``admin`` is the
    ``AdminRouter`` (``create_admin(...)``) or None."""
    opted_in = {seam.table_name(t) for t in editable_outside_admin}
    rules: dict[str, TableRules] = {}
    for table in tables:
        name = seam.table_name(table)
        config = seam.admin_table_config(admin, table) if admin is not None else None
        if config is None:
            reason = (
                None
                if name in opted_in
                else f"{name!r} is not served by Piccolo Admin, so the widgets "
                "show it read-only (list it in editable_outside_admin to allow "
                "edits without the admin's validators and hooks)"
            )
            rules[name] = TableRules(table, reason, None)
            continue
        read_only = seam.admin_read_only(admin)
        crud = PiccoloCRUD(
            table=table,
            read_only=read_only,
            validators=config.validators,
            hooks=config.hooks,
        )
        reason = (
            f"Piccolo Admin is read-only: {name!r} cannot be edited"
            if read_only
            else None
        )
        rules[name] = TableRules(table, reason, crud)
    return rules

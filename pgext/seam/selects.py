"""Selects: the nearest-first rewrite and what a rewrite may read and build.

Exact geodesic KNN needs the LIMIT of the query it orders (see
``pgext.postgis.nearest``), which an ``order_by`` expression never sees.
``install_select_rewrite`` gives ``Select`` a ``postgres_querystrings``
property (Piccolo's ``Query.querystrings`` asks for it first on PostgreSQL
and falls back to ``default_querystrings`` when the base class raises
``NotImplementedError``; ``Objects``, ``first()``, ``Count``, ``Exists`` and
sub-selects all go through ``querystrings``), so a registered hook may
return a replacement ``Select`` to compile instead.  A hook registered with
``ordered_by`` is called only for selects whose ORDER BY starts with an
instance of that class, so every other select costs one attribute chain
(and skips the exception Piccolo's fallback raises).  The hooks use only the
helpers below to read and derive queries (``*_delegate`` internals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgext.seam._patching import _getter

_SELECT_REWRITES: list[tuple[Any, type | None]] = []
# The classes a leading ORDER BY expression must be an instance of for any
# hook to run; None once a hook was registered without ``ordered_by``.
_ORDERED_BY: tuple[type, ...] | None = ()
# Whether a leading ORDER BY expression of a type wants a hook, by type:
# isinstance on an ABC (QueryString is one) runs Python code each time.
_WANTED: dict[type, bool] = {}


def install_select_rewrite(hook: Any, *, ordered_by: type | None = None) -> None:
    """Register ``hook(select) -> Select | None`` (idempotent), called only
    for selects ordered first by an instance of ``ordered_by`` when given."""
    global _ORDERED_BY
    from piccolo.query.methods.select import Select

    if all(registered is not hook for registered, _ in _SELECT_REWRITES):
        _SELECT_REWRITES.append((hook, ordered_by))
        if ordered_by is None or _ORDERED_BY is None:
            _ORDERED_BY = None
        else:
            _ORDERED_BY = (*_ORDERED_BY, ordered_by)
        _WANTED.clear()
    if "postgres_querystrings" in vars(Select):
        return
    getter = _getter(Select, "default_querystrings")
    wanted = _WANTED

    def postgres_querystrings(self: Any) -> Any:
        items = self.order_by_delegate._order_by.order_by_items
        if not items or not items[0].columns:
            if _ORDERED_BY is not None:
                return getter(self)  # no hook wants an unordered select
            leading = None
        else:
            leading = items[0].columns[0]
            if _ORDERED_BY is not None:
                kind = type(leading)
                wants = wanted.get(kind)
                if wants is None:
                    wants = wanted[kind] = issubclass(kind, _ORDERED_BY)
                if not wants:
                    return getter(self)
        for registered, ordered_by in _SELECT_REWRITES:
            if ordered_by is not None and not isinstance(leading, ordered_by):
                continue
            replacement = registered(self)
            if replacement is not None:
                return getter(replacement)
        return getter(self)

    # cockroach_querystrings too: CockroachDB's engine asks for its own.
    for name in ("postgres_querystrings", "cockroach_querystrings"):
        setattr(Select, name, property(postgres_querystrings))


def select_leading_order(select: Any) -> Any:
    """The first expression of a limited ``select``'s ORDER BY, or None
    (no limit, no order): the cheap look a hook takes before reading
    :func:`select_parts`."""
    if select.limit_delegate._limit is None:
        return None
    items = select.order_by_delegate._order_by.order_by_items
    if not items or not items[0].columns:
        return None
    return items[0].columns[0]


@dataclass(frozen=True)
class SelectParts:
    """What a rewrite hook may read of a ``Select``."""

    order_by: list[tuple[tuple[Any, ...], bool]]  # (expressions, ascending)
    limit: int | None
    offset: int | None
    plain: bool  # no DISTINCT, GROUP BY, HAVING or row locks


def select_parts(select: Any) -> SelectParts:
    limit = select.limit_delegate._limit
    offset = select.offset_delegate._offset
    return SelectParts(
        order_by=[
            (tuple(item.columns), bool(item.ascending))
            for item in select.order_by_delegate._order_by.order_by_items
        ],
        limit=None if limit is None else int(limit.number),
        offset=None if offset is None else int(offset.number),
        plain=not (
            select.distinct_delegate._distinct.enabled
            or select.group_by_delegate._group_by
            or select.having_delegate._where
            or select.lock_rows_delegate._lock_rows
        ),
    )


def select_columns(select: Any) -> list[Any]:
    """What a ``Select`` selects (``columns_delegate.selected_columns``):
    columns and expressions such as a continuous aggregate's time bucket."""
    return list(select.columns_delegate.selected_columns)


def derived_select(
    select: Any,
    *,
    where: Any = None,
    columns: Sequence[Any] | None = None,
    order_by: Any = None,
    limit: int | None = None,
) -> Any:
    """A new ``Select`` sharing ``select``'s delegates, with ``where`` added
    to its filter and, when given, its own columns, order and limit (then
    without offset and row locks: a subquery).  ``select`` is not changed."""
    from piccolo.query.methods.select import Select
    from piccolo.query.mixins import (
        ColumnsDelegate,
        LimitDelegate,
        LockRowsDelegate,
        OffsetDelegate,
        OrderByDelegate,
        WhereDelegate,
    )

    derived = Select(table=select.table)
    for name in Select.__slots__:
        if name.endswith("_delegate") or name == "exclude_secrets":
            setattr(derived, name, getattr(select, name))
    if where is not None:
        derived.where_delegate = WhereDelegate()
        if select.where_delegate._where is not None:
            derived.where_delegate.where(select.where_delegate._where)
        derived.where_delegate.where(where)
    if columns is not None:
        derived.columns_delegate = ColumnsDelegate()
        derived.columns_delegate.columns(*columns)
        derived.order_by_delegate = OrderByDelegate()
        derived.order_by_delegate.order_by(order_by)
        derived.limit_delegate = LimitDelegate()
        if limit is not None:
            derived.limit_delegate.limit(limit)
        derived.offset_delegate = OffsetDelegate()
        derived.lock_rows_delegate = LockRowsDelegate()
    return derived


def select_querystring(select: Any) -> Any:
    """The compiled ``QueryString`` of ``select``, without rewrites."""
    from piccolo.query.methods.select import Select

    return _getter(Select, "default_querystrings")(select)[0]


async def select_results(select: Any, records: list[Any]) -> Any:
    """What ``await select`` returns for ``records`` fetched with its SQL:
    Piccolo's own result processing (``Query._process_results``: the
    engine's row dicts, then output options), then its success callbacks."""
    from piccolo.query.mixins import CallbackType

    results = await select._process_results(records)
    return await select.callback_delegate.invoke(results, kind=CallbackType.success)


def select_results_are_plain(select: Any) -> bool:
    """Whether :func:`select_results` of ``select`` is only the engine's row
    dicts: no output options that reshape rows (objects, JSON loading), no
    M2M columns to splice, no success callbacks.  Decided once for a
    prepared select, which then skips Piccolo's per-run processing."""
    from piccolo.columns.m2m import M2MSelect
    from piccolo.query.mixins import CallbackType

    output = select.output_delegate._output
    if output.as_objects or output.load_json or output.nested:
        return False
    if any(
        isinstance(column, M2MSelect)
        for column in select.columns_delegate.selected_columns
    ):
        return False
    return not select.callback_delegate._callbacks[CallbackType.success]

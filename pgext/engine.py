"""``PgextEngine``: Piccolo's ``PostgresEngine`` plus pgext's type codecs,
capability detection and safe extension creation.

Use it in ``piccolo_conf.py`` in place of ``PostgresEngine``::

    DB = PgextEngine(config={"dsn": "postgres://..."}, extensions=("postgis",))

Codecs reach every connection Piccolo uses because the two places where Piccolo
opens connections are covered: ``get_new_connection`` (plain queries,
transactions without a pool, ``run_sync``, migrations, ``batch``) and
``start_connection_pool`` (through asyncpg's ``init``).  ``init`` is never put
into ``config``: ``asyncpg.connect`` does not accept it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from pgext import codecs, seam
from pgext.capabilities import DETECT_SQL, Capabilities
from pgext.codecs import (
    GC_PAUSE_MIN_ROWS,
    CodecInstaller,
    column_hooks,
    gc_paused,
    result_hooks,
    rows_from_columns,
)
from pgext.errors import (
    ExtensionError,
    PgextError,
    error_translators_registered,
    translate_error,
)
from pgext.identifiers import quote_ident

logger = logging.getLogger("pgext.engine")

ConnectionInit = Callable[[asyncpg.Connection], Awaitable[None]]

# Results up to this many rows are first scanned for hook placeholders; past
# it the scan would cost more than the hooks' own column-wise pass.
SMALL_RESULT_ROWS = 32


def _apply_hooks(keys: list[str], columns: list[Sequence[Any]]) -> list[dict[str, Any]]:
    """Column hooks on the columns, row dicts, then result hooks."""
    for column_hook in column_hooks():
        column_hook(columns)
    rows = rows_from_columns(keys, columns)
    for hook in result_hooks():
        hook(rows)
    return rows


async def _translated(running: Awaitable[Any]) -> Any:
    try:
        return await running
    except asyncpg.PostgresError as error:
        translated = translate_error(error)
        if translated is error:
            raise
        raise translated from error


class PgextEngine(PostgresEngine):
    """A ``PostgresEngine`` whose connections all speak pgext's types.

    :param extensions: created at start-up when possible.  Unlike Piccolo's
        engine, a missing or not-preloaded extension only logs a warning, so
        importing ``piccolo_conf`` never fails because of one; call
        :meth:`ensure_extension` where the extension is required.
    :param pool_options: extra keyword arguments for ``asyncpg.create_pool``
        (``min_size``, ``max_size``, ``reset`` ...), used even when the
        application calls ``start_connection_pool()`` without arguments.
    """

    def __init__(
        self,
        config: dict[str, Any],
        extensions: Sequence[str] = (),
        log_queries: bool = False,
        log_responses: bool = False,
        extra_nodes: Mapping[str, PostgresEngine] | None = None,
        pool_options: Mapping[str, Any] | None = None,
    ) -> None:
        # Piccolo's constructor already connects (check_version and
        # prep_database), so everything those use must exist before it runs.
        self._capabilities: Capabilities | None = None
        self._codecs = CodecInstaller()
        self.pool_options: dict[str, Any] = dict(pool_options or {})
        self.extension_warnings: list[str] = []
        super().__init__(
            config=config,
            extensions=tuple(extensions),
            log_queries=log_queries,
            log_responses=log_responses,
            extra_nodes=extra_nodes,
        )

    # -- connections ----------------------------------------------------------------

    async def get_new_connection(self) -> asyncpg.Connection:
        connection: asyncpg.Connection = await super().get_new_connection()
        try:
            await self._codecs.install(connection)
        except BaseException:
            await connection.close()
            raise
        return connection

    async def start_connection_pool(self, **kwargs: Any) -> None:
        options = {**self.pool_options, **kwargs}
        user_init: ConnectionInit | None = options.pop("init", None)

        async def init(connection: asyncpg.Connection) -> None:
            await self._codecs.install(connection)
            if user_init is not None:
                await user_init(connection)

        await super().start_connection_pool(init=init, **options)

    async def refresh_codecs(self) -> None:
        """Make connections pick up codecs of types created (or re-created)
        since they were opened (after ``CREATE EXTENSION`` for instance): the
        types are looked up again and pooled connections replaced."""
        self._codecs.forget()
        if self.pool is not None:
            await self.pool.expire_connections()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A codec-enabled connection: the current transaction's, a pooled
        one, or a new one closed afterwards.  For COPY and other driver-level
        work that Piccolo's query API does not cover."""
        transaction = self.current_transaction.get()
        if transaction is not None:
            yield transaction.connection
        elif self.pool is not None:
            async with self.pool.acquire() as pooled:
                yield pooled
        else:
            fresh = await self.get_new_connection()
            try:
                yield fresh
            finally:
                await fresh.close()

    def transform_response_to_dicts(self, results: Any) -> list[dict[str, Any]]:
        """Records -> row dicts, with pgext's column and result hooks applied.

        The records are transposed into columns first, so column hooks convert
        whole columns (spatial values with one shapely call) and every row
        dict is built once, already holding the converted values."""
        if not results:
            return []
        count = len(results)
        # Most queries return a row or a few, and nothing a hook converts: a
        # look at the values' types (C-level, well under a microsecond a
        # row) spares them the hooks, so they cost what Piccolo's own
        # ``dict(record)`` costs.  Which look applies was decided when the
        # hooks registered (codecs.RESULT_CONVERSION), not here.
        skip = codecs.RESULT_CONVERSION
        if skip is not None and count <= SMALL_RESULT_ROWS:
            if count == 1:  # the commonest result, without a loop's set-up
                record = results[0]
                if skip.isdisjoint(map(type, record)):
                    return [dict(record)]
            elif not skip:
                return [dict(record) for record in results]
            else:
                for record in results:
                    if not skip.isdisjoint(map(type, record)):
                        break
                else:
                    return [dict(record) for record in results]
        keys = list(results[0].keys())
        if not keys:
            return [{} for _ in results]
        if count >= GC_PAUSE_MIN_ROWS:
            with gc_paused(count, promote=True):
                # itemgetter per column is about twice as fast as zip(*results).
                columns: list[Sequence[Any]] = [
                    list(map(itemgetter(index), results)) for index in range(len(keys))
                ]
                return _apply_hooks(keys, columns)
        # zip is the cheaper transpose for few rows (no itemgetter per column).
        return _apply_hooks(keys, list(zip(*results, strict=True)))

    def run_querystring(self, querystring: Any, in_pool: bool = True) -> Any:
        # A plain ``def`` handing back Piccolo's own coroutine: every query
        # would otherwise pay a coroutine frame of ours, resumed on each of
        # its awaits.  Only when translators are registered (pgext.citus) do
        # errors pass through them, so a constraint error names the user's
        # constraint, not a shard's.
        running = PostgresEngine.run_querystring(self, querystring, in_pool)
        if not error_translators_registered():
            return running
        return _translated(running)

    # -- capabilities -----------------------------------------------------------------

    async def capabilities(self, refresh: bool = False) -> Capabilities:
        """What the server has: PostgreSQL, PostGIS and TimescaleDB versions,
        TimescaleDB's licence.  Cached; ``refresh=True`` asks again."""
        if self._capabilities is None or refresh:
            async with self.connection() as connection:
                row = await connection.fetchrow(DETECT_SQL)
            self._capabilities = Capabilities.from_row(row)
        return self._capabilities

    @property
    def cached_capabilities(self) -> Capabilities | None:
        """What :meth:`capabilities` last found, without a round trip (None
        before the first detection).  For code that must stay synchronous,
        such as SQL rendering inside a query."""
        return self._capabilities

    async def ensure_extension(self, name: str, *minimum: int) -> Capabilities:
        """Create extension ``name`` if needed; raise a clear
        :class:`~pgext.errors.ExtensionError` when it cannot be created.

        The checks run before any DDL, so a refused extension leaves nothing
        behind; ``CREATE EXTENSION`` itself is atomic.
        """
        capabilities = await self.capabilities(refresh=True)
        if not capabilities.installed(name):
            capabilities.check_creatable(name)
            async with self.connection() as connection:
                try:
                    await connection.execute(
                        f"CREATE EXTENSION IF NOT EXISTS {quote_ident(name)} CASCADE"
                    )
                except asyncpg.PostgresError as error:
                    raise ExtensionError(
                        f"CREATE EXTENSION {name} failed: {error}"
                    ) from error
            await self.refresh_codecs()
            capabilities = await self.capabilities(refresh=True)
        capabilities.require(name, *minimum)
        return capabilities

    async def prep_database(self) -> None:
        """Create the requested extensions, warning instead of raising."""
        for name in self.extensions:
            try:
                await self.ensure_extension(name)
            except (PgextError, OSError, asyncpg.PostgresError) as error:
                message = f"pgext: extension {name!r} not created: {error}"
                self.extension_warnings.append(message)
                warnings.warn(message, stacklevel=2)

    async def execute_in_new_connection(self, sql: str, *args: Any) -> list[Any]:
        """Run one statement on a fresh codec-enabled connection."""
        return await seam.run_in_new_connection(self, sql, args)

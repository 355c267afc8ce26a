"""Connections: one private method of Piccolo's engine and one private
attribute of asyncpg's connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from piccolo.engine.postgres import PostgresEngine


async def run_in_new_connection(
    engine: PostgresEngine, sql: str, args: Sequence[Any] = ()
) -> list[Any]:
    """``PostgresEngine._run_in_new_connection``: one query on a fresh
    connection, closed afterwards (used where no pool may exist yet)."""
    result: list[Any] = await engine._run_in_new_connection(sql, list(args))
    return result


# asyncpg, not Piccolo: its connection exposes no socket and no keepalive
# option, and pub/sub's listener needs TCP keepalive to notice a dead peer.


def connection_socket(connection: Any) -> Any:
    """The socket under an asyncpg connection (``Connection._transport``),
    or None; pub/sub sets TCP keepalive on its listener connection."""
    transport = getattr(connection, "_transport", None)
    if transport is None:
        return None
    return transport.get_extra_info("socket")

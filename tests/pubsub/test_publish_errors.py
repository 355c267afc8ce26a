"""What publish raises: pgext errors only, never the driver's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, InvalidPayload, Message, PublishFailed

from .conftest import Note

pytestmark = pytest.mark.postgres


class Loose(BaseModel):
    extra: Any = None


async def test_an_unserialisable_payload_is_invalid(hub: Hub) -> None:
    chan = Channel("errors_loose", Loose)
    with pytest.raises(InvalidPayload, match="errors_loose"):
        await hub.publish(chan, {"extra": object()})


async def test_publish_after_the_server_ended_every_pooled_connection(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """The pool still holds connections whose backends were terminated:
    the first publish either goes through on a fresh one or raises
    PublishFailed (never asyncpg's own errors), and the next ones work."""
    chan = Channel("errors_after_kill", Note, durable=True)
    async with hub.subscribe(chan) as sub:
        await hub.publish(chan, {"n": 0})
        assert isinstance(await sub.get(timeout=5), Message)
        async with ps_engine.connection() as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        outcomes = []
        for n in range(1, 8):
            try:
                await hub.publish(chan, {"n": n})
                outcomes.append(n)
            except PublishFailed as error:
                assert error.__cause__ is not None
        assert outcomes and outcomes[-1] == 7
        got = set()
        while not set(outcomes) <= got:
            event = await sub.get(timeout=10)
            if isinstance(event, Message):
                got.add(event.data.n)

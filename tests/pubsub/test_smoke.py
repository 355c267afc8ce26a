from __future__ import annotations

import asyncio

import pytest

from pgext.pubsub import Channel, Hub, Message

from .conftest import Note

pytestmark = pytest.mark.postgres


async def test_plain_roundtrip(hub: Hub) -> None:
    notes = Channel("smoke_notes", Note)
    async with hub.subscribe(notes) as sub:
        await hub.publish(notes, Note(n=1, text="hi"))
        event = await sub.get(timeout=5)
        assert isinstance(event, Message)
        assert event.data == Note(n=1, text="hi")


async def test_durable_roundtrip(hub: Hub) -> None:
    notes = Channel("smoke_durable", Note, durable=True)
    async with hub.subscribe(notes) as sub:
        for i in range(5):
            await hub.publish(notes, {"n": i})
        got = [await sub.get(timeout=5) for _ in range(5)]
        assert [e.data.n for e in got] == list(range(5))  # type: ignore[union-attr]
        ids = [e.id for e in got]  # type: ignore[union-attr]
        assert ids == sorted(ids)
    await asyncio.sleep(0)

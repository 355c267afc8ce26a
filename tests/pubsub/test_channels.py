"""Channel names and payloads are checked before anything is sent."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from pgext.engine import PgextEngine
from pgext.errors import InvalidIdentifier, InvalidValue, PgextError
from pgext.pubsub import (
    Channel,
    Hub,
    InvalidChannel,
    InvalidPayload,
    Message,
    validate_channel_name,
)

from .conftest import Note


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 64,
        "é" * 32,
        "has space",
        "semi;colon",
        'quo"te',
        "1starts_digit",
        "pgext_reserved",
        "nul\x00",
    ],
)
def test_bad_channel_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidChannel) as caught:
        Channel(name, Note)
    assert isinstance(caught.value, InvalidIdentifier)
    assert isinstance(caught.value, PgextError)


@pytest.mark.parametrize("name", ["a" * 63, "Orders", "orders.eu-1:v2", "_x"])
def test_good_channel_names(name: str) -> None:
    assert validate_channel_name(name) == name


def test_name_length_is_counted_in_bytes() -> None:
    # 63 characters but not 63 bytes would be refused by the character rule
    # anyway; the byte rule is what Postgres applies, so check it directly.
    with pytest.raises(InvalidChannel, match="bytes"):
        validate_channel_name("x" * 64)


def test_model_must_be_pydantic() -> None:
    with pytest.raises(InvalidChannel, match="BaseModel"):
        Channel("x", dict)  # type: ignore[type-var]


def test_payload_validation_error_is_clear() -> None:
    notes = Channel("notes", Note)
    with pytest.raises(InvalidPayload, match=r"notes.*Note") as caught:
        notes.encode({"n": "not a number"})
    assert isinstance(caught.value, InvalidValue)
    assert notes.encode({"n": 3}) == '{"n":3,"text":""}'


def test_mutated_model_instance_is_revalidated() -> None:
    note = Note(n=1)
    note.n = "x"  # type: ignore[assignment]
    with pytest.raises(InvalidPayload):
        Channel("notes", Note).encode(note)


@pytest.mark.postgres
async def test_bad_payload_sends_nothing(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("chk_bad_payload", Note)
    async with hub.subscribe(notes) as sub:
        with pytest.raises(InvalidPayload):
            await hub.publish(notes, {"text": "missing n"})
        await hub.publish(notes, {"n": 2})
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == 2
        with pytest.raises(asyncio.TimeoutError):
            await sub.get(timeout=0.2)


@pytest.mark.postgres
async def test_case_sensitive_names(hub: Hub) -> None:
    upper = Channel("CaseTest", Note)
    lower = Channel("casetest", Note)
    async with hub.subscribe(upper) as up, hub.subscribe(lower) as low:
        await hub.publish(upper, {"n": 1})
        await hub.publish(lower, {"n": 2})
        got_up = await up.get(timeout=5)
        got_low = await low.get(timeout=5)
        assert isinstance(got_up, Message) and got_up.data.n == 1
        assert isinstance(got_low, Message) and got_low.data.n == 2


class Strict(BaseModel):
    model_config = {"extra": "forbid"}
    a: int


@pytest.mark.postgres
async def test_subscribe_argument_errors(hub: Hub) -> None:
    plain = Channel("args_plain", Strict)
    durable = Channel("args_durable", Strict, durable=True)
    with pytest.raises(InvalidChannel):
        hub.subscribe()
    with pytest.raises(InvalidChannel):
        hub.subscribe(plain, durable)
    with pytest.raises(InvalidChannel):
        hub.subscribe(plain, from_id=3)
    with pytest.raises(InvalidChannel):
        hub.subscribe("args_plain")  # type: ignore[arg-type]

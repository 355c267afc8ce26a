"""Burst-wise delivery: many notifications of one read are validated in one
call, yet each keeps its place, its own verdict and its metadata."""

from __future__ import annotations

import pytest

from pgext.engine import PgextEngine
from pgext.pubsub import BadMessage, Channel, Hub, Message, Overflow, SubscriberTooSlow
from pgext.pubsub.mailbox import Mailbox

from .conftest import Note

NOTIFY = "SELECT pg_notify($1, $2)"


@pytest.mark.postgres
async def test_a_burst_keeps_order_and_reports_bad_notes_in_place(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    notes = Channel("burst_mixed", Note)
    # One note's text must never become two messages (or swallow the next).
    spliced = '{"pgext":1,"ts":1.0,"d":{"n":90}},{"pgext":1,"ts":1.0,"d":{"n":91}}'
    async with hub.subscribe(notes, on_invalid="surface") as sub:
        async with ps_engine.connection() as conn, conn.transaction():
            # One transaction: the notes reach the listener together.
            pid = conn.get_server_pid()
            await hub.publish(notes, Note(n=1), connection=conn)
            await conn.execute(NOTIFY, notes.name, '{"n": 2}')  # another writer
            await conn.execute(NOTIFY, notes.name, "{oops")
            await conn.execute(NOTIFY, notes.name, '{"pgext":1,"ts":1,"d":{"n":"x"}}')
            await hub.publish(notes, Note(n=3, text="z" * 9000), connection=conn)
            await hub.publish(notes, Note(n=4), connection=conn)
            await conn.execute(NOTIFY, notes.name, spliced)
            for n in range(5, 45):
                await hub.publish(notes, Note(n=n), connection=conn)
        events = [await sub.get(timeout=5) for _ in range(47)]
    kinds = [
        e.data.n if isinstance(e, Message) else "bad"
        for e in events  # type: ignore[union-attr]
    ]
    assert kinds == [1, 2, "bad", "bad", 3, 4, "bad", *range(5, 45)]
    bad = [e for e in events if isinstance(e, BadMessage)]
    assert "JSON" in bad[0].error and "model" in bad[1].error
    assert bad[2].raw == spliced and "JSON" in bad[2].error
    messages = [e for e in events if isinstance(e, Message)]
    assert all(m.sender_pid == pid for m in messages)
    assert messages[1].published_at is None  # bare JSON carries no stamp
    assert all(m.published_at for m in messages if m.data.n != 2)
    assert sub.stats()["invalid"] == 3


def test_decode_notes_parses_each_note_on_its_own() -> None:
    notes = Channel("burst_unit", Note)
    good = '{"pgext":1,"ts":2.5,"d":{"n":1}}'
    spliced = '{"pgext":1,"ts":1,"d":{"n":2}},{"pgext":1,"ts":1,"d":{"n":3}}'
    texts = [good, spliced, '{"pgext":1,"ts":"2","d":{"n":1}}', '{"n":4}', good]
    out = notes.decode_notes(texts)
    assert out[0] == {"pgext": 1, "ts": 2.5, "d": Note(n=1)}
    # Anything else comes back as its own text, for the one-by-one path.
    assert out[1:4] == texts[1:4]
    assert out[4] == out[0] and out[4]["d"] is not out[0]["d"]


async def test_put_many_applies_each_overflow_policy() -> None:
    newest: Mailbox[int] = Mailbox(3, Overflow.DROP_OLDEST)
    newest.put_many([1, 2])
    newest.put_many([3, 4, 5, 6])
    assert [newest.get_nowait() for _ in range(3)] == [4, 5, 6]
    assert newest.counters.dropped == 3

    latest: Mailbox[tuple[str, int]] = Mailbox(
        2, Overflow.KEEP_LATEST, key=lambda item: item[0]
    )
    latest.put_many([("a", 1), ("b", 2), ("a", 3), ("b", 4)])
    assert [latest.get_nowait(), latest.get_nowait()] == [("a", 3), ("b", 4)]
    assert latest.counters.coalesced == 2

    strict: Mailbox[int] = Mailbox(2, Overflow.DISCONNECT)
    strict.put_many([1, 2, 3])
    with pytest.raises(SubscriberTooSlow):
        strict.get_nowait()


def test_burst_messages_equal_ordinary_ones() -> None:
    from pgext.pubsub.subscription import _make_message

    made = _make_message("c", Note(n=1), None, 2.5, 7)
    assert made == Message("c", Note(n=1), None, 2.5, 7)
    assert repr(made) == repr(Message("c", Note(n=1), None, 2.5, 7))
    with pytest.raises(AttributeError):
        made.id = 3  # type: ignore[misc]

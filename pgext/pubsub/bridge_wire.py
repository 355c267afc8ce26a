"""What the browser bridge puts on the wire.

An event is encoded once and the bytes are shared by every client of the
channel (a message fanned out to 1,000 browsers costs one JSON encoding per
protocol, not 1,000).

Server-Sent Events
    ``event: message`` with ``data:`` the payload model as JSON and, on
    durable channels, ``id:`` its outbox position (the browser sends it back
    as ``Last-Event-ID`` when it reconnects).  ``event: gap`` with a JSON
    description when the client may have missed messages.  Heartbeats are
    comment lines, which ``EventSource`` ignores.
WebSocket
    one JSON text frame per event: ``{"type": "message", "channel", "id",
    "data"}``, ``{"type": "gap", ...}`` or ``{"type": "heartbeat"}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from pgext.errors import InvalidValue
from pgext.pubsub.errors import PubSubError
from pgext.pubsub.messages import Gap

# Outbox positions are bigint; anything longer cannot be one of ours.
_RESUME_ID = re.compile(r"^[0-9]{1,19}$")
_MAX_BIGINT = 2**63 - 1


class BadResumeId(PubSubError, InvalidValue):
    """A ``Last-Event-ID`` / ``last_id`` that is not an outbox position."""


def parse_resume_id(value: str | None) -> int | None:
    """The position to resume after, ``None`` when absent (or empty, which
    is what a browser that has seen no id yet may send)."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not _RESUME_ID.match(text) or int(text) > _MAX_BIGINT:
        raise BadResumeId(
            f"resume id {value[:40]!r} is not an event id (a non-negative integer)"
        )
    return int(text)


@dataclass(slots=True)
class Frame:
    """One event, with its encodings made on first use and then cached."""

    kind: str
    channel: str
    id: int | None
    #: The payload as JSON text (messages) or a JSON-able description (gaps).
    json_data: str
    #: The message as received, for the ``key`` of keep-latest clients.
    message: Any = None
    _sse: bytes | None = field(default=None, repr=False)
    _ws: str | None = field(default=None, repr=False)

    def sse(self) -> bytes:
        if self._sse is None:
            lines = []
            if self.id is not None:
                lines.append(f"id: {self.id}")
            lines.append(f"event: {self.kind}")
            # Compact JSON has no raw newlines, so one data line suffices.
            lines.append(f"data: {self.json_data}")
            self._sse = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return self._sse

    def ws(self) -> str:
        if self._ws is None:
            self._ws = (
                f'{{"type":{json.dumps(self.kind)},'
                f'"channel":{json.dumps(self.channel)},'
                f'"id":{"null" if self.id is None else self.id},'
                f'"data":{self.json_data}}}'
            )
        return self._ws


def message_frame(
    channel: str, data: BaseModel, id: int | None, message: Any = None
) -> Frame:
    return Frame("message", channel, id, data.model_dump_json(), message)


def gap_frame(channel: str, **details: Any) -> Frame:
    return Frame("gap", channel, None, _json(details))


def listener_gap_frame(channel: str, gap: Gap) -> Frame:
    """The hub lost its LISTEN connection: plain messages may be missing."""
    return gap_frame(
        channel,
        reason="reconnect",
        detail=gap.reason,
        since=gap.since,
        until=gap.until,
    )


def overflow_frame(channel: str, dropped: int) -> Frame:
    """This client was too slow: ``dropped`` messages were discarded."""
    return gap_frame(channel, reason="overflow", dropped=dropped)


HEARTBEAT_WS = '{"type":"heartbeat"}'


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)

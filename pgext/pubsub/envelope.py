"""The JSON text carried by a plain notification.

``{"pgext": 1, "ts": <epoch>, "d": <payload>}`` for an inline payload and
``{"pgext": 1, "ts": <epoch>, "spill": <id>}`` when the payload was too big
for NOTIFY and sits in the spill table.  JSON that is not such an envelope
(another writer's ``pg_notify('orders', '{"id": 1}')``) is taken as the
payload itself, so hand-written SQL can publish to a typed channel.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

# pg_notify refuses payloads of 8000 bytes or more (default build).
NOTIFY_LIMIT = 8000


@dataclass(frozen=True, slots=True)
class Decoded:
    """``text`` is the payload's JSON text when it could be cut out of the
    envelope without parsing (pgext's own format); otherwise ``data`` holds
    the parsed value."""

    data: Any
    published_at: float | None
    spill_id: int | None
    text: str | None = None


# pgext's own envelopes, exactly as ``wrap`` writes them: the payload can be
# sliced out and validated from text in one pass.
_OWN = re.compile(r'\{"pgext":1,"ts":([-+0-9.eE]+),"d":(.*)\}', re.S)


def wrap(payload_json: str, published_at: float | None = None) -> str:
    """Envelope around an already serialised payload (no re-encoding)."""
    ts = time.time() if published_at is None else published_at
    return f'{{"pgext":1,"ts":{ts!r},"d":{payload_json}}}'


def wrap_spill(spill_id: int, published_at: float | None = None) -> str:
    ts = time.time() if published_at is None else published_at
    return f'{{"pgext":1,"ts":{ts!r},"spill":{int(spill_id)}}}'


def fits(text: str) -> bool:
    return len(text.encode("utf-8")) < NOTIFY_LIMIT


def unwrap(text: str) -> Decoded:
    """Parse a notification payload; raises ValueError on malformed JSON."""
    own = _OWN.fullmatch(text)
    if own is not None:
        return Decoded(None, float(own.group(1)), None, own.group(2))
    value = json.loads(text)
    if isinstance(value, dict) and value.get("pgext") == 1:
        ts = value.get("ts")
        published = float(ts) if isinstance(ts, int | float) else None
        spill = value.get("spill")
        if spill is not None:
            if not isinstance(spill, int):
                raise ValueError("spill reference is not an integer")
            return Decoded(None, published, spill)
        if "d" not in value:
            raise ValueError("envelope without data")
        return Decoded(value["d"], published, None)
    return Decoded(value, None, None)

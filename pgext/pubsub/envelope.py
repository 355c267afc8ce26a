"""The JSON text carried by a plain notification.

``{"pgext": 1, "ts": <epoch>, "d": <payload>}`` for an inline payload and
``{"pgext": 1, "ts": <epoch>, "spill": <id>}`` when the payload was too big
for NOTIFY and sits in the spill table.  JSON that is not such an envelope
(another writer's ``pg_notify('orders', '{"id": 1}')``) is taken as the
payload itself, so hand-written SQL can publish to a typed channel.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

# pg_notify refuses payloads of 8000 bytes or more (default build).
NOTIFY_LIMIT = 8000


@dataclass(frozen=True, slots=True)
class Decoded:
    data: Any
    published_at: float | None
    spill_id: int | None


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

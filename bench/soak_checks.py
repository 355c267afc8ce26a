"""What the durable soak checks once the writers have stopped: every
committed message (the truth, read from the outbox) against what the
subscriber received and what the writers were told was committed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

TRUTH_SQL = """
SELECT o.id, o.payload, b.first_pos + t.k - 1 AS pos
FROM pgext_outbox o
LEFT JOIN (pgext_outbox_batch b
           CROSS JOIN LATERAL unnest(b.ids) WITH ORDINALITY AS t(id, k))
       ON t.id = o.id
WHERE o.channel = $1
"""


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted integers, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


Arrival = tuple[int, int, int, int]  # position, writer, connection, sequence


Key = tuple[int, int, int]  # writer, connection, sequence


def committed_positions(truth: list[Any]) -> dict[Key, int | None]:
    """Every committed message of the channel, with its position (None:
    never numbered)."""
    committed: dict[Key, int | None] = {}
    for row in truth:
        d = json.loads(row["payload"])
        committed[(d["w"], d["c"], d["s"])] = row["pos"]
    return committed


def acknowledged(committed: dict[Key, int | None], acks: list[Path]) -> dict[str, int]:
    """Publishes that returned (so were committed) but are not in the
    outbox: must be none, crashes included.  ``acks[w]``: writer w's
    "connection seq" lines."""
    acked = [
        (w, *map(int, line.split()))
        for w, path in enumerate(acks)
        if path.exists()
        for line in path.read_text().splitlines()
    ]
    return {
        "acknowledged": len(acked),
        "acknowledged_missing": sum(1 for key in acked if key not in committed),
    }


def verify(committed: dict[Key, int | None], arrivals: list[Arrival]) -> dict[str, Any]:
    got = {(w, c, s) for _, w, c, s in arrivals}
    seen: set[int] = set()
    duplicated = reordered = 0
    highest = 0
    for pos, *_ in arrivals:
        if pos in seen:
            duplicated += 1
            continue
        if pos < highest:
            reordered += 1
        seen.add(pos)
        highest = max(highest, pos)
    # Each connection publishes one message at a time, so its messages must
    # be numbered in the order it wrote them.
    by_conn: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for (w, c, s), pos in committed.items():
        if pos is not None:
            by_conn.setdefault((w, c), []).append((s, pos))
    misnumbered = sum(
        1
        for pairs in by_conn.values()
        for (_, a), (_, b) in itertools.pairwise(sorted(pairs))
        if a > b
    )
    missing = sorted(p for k, p in committed.items() if k not in got and p is not None)
    runs = [[a, b] for a, b in _runs(missing)]
    return {
        "missing_position_runs": runs[:20],
        "highest_received": highest,
        "committed": len(committed),
        "received": len(arrivals),
        "lost": len(set(committed) - got),
        "never_numbered": sum(1 for p in committed.values() if p is None),
        "duplicated": duplicated,
        "reordered": reordered,
        "misnumbered": misnumbered,
    }

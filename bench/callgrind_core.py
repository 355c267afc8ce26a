"""Client-side instructions per trivial query, PgextEngine vs Piccolo's
PostgresEngine, counted by callgrind (wall time on a shared machine is noise;
instruction counts are not).

    PGEXT_POSTGRES_DSN=postgres://... \\
        valgrind --tool=callgrind --collect-atstart=no \\
        --callgrind-out-file=/tmp/cg.%p .venv/bin/python -m bench.callgrind_core

Needs a C compiler and valgrind's ``callgrind.h``: a tiny library issuing
callgrind's client requests is built on the fly, so only the measured loops
are counted (imports, connecting and warm-up are not).  Each engine runs the
same select / insert / update of one row on the same table and pool size;
each dump is labelled ``<operation>-<engine>``.  With
``PGEXT_CALLGRIND_VANILLA=1`` pgext.postgis is not imported (Piccolo as it is
without pgext's hooks) and only Piccolo's engine runs: the cost the hooks add
to Piccolo itself.  Not run by the test suite (a tool, not a check).

Summarise the dumps with ``grep -H '^summary:\\|^desc: Trigger' <files>``.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from piccolo.columns import Integer, Varchar
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine

QUERIES = int(os.environ.get("PGEXT_CALLGRIND_QUERIES", "500"))
WARM_UP = 50
VANILLA = os.environ.get("PGEXT_CALLGRIND_VANILLA") == "1"
if not VANILLA:
    import pgext.postgis  # noqa: F401  (its codecs and hooks, as users run it)

_SOURCE = """
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION;
                      CALLGRIND_TOGGLE_COLLECT; }
void cg_stop(const char *label) { CALLGRIND_TOGGLE_COLLECT;
                                  CALLGRIND_DUMP_STATS_AT(label); }
"""


def _client_requests() -> Any:
    directory = Path(tempfile.mkdtemp(prefix="pgext-cg-"))
    (directory / "cg.c").write_text(_SOURCE)
    library = directory / "cg.so"
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O1", "-o", str(library), str(directory / "cg.c")],
        check=True,
    )
    return ctypes.CDLL(str(library))


class CallgrindProbe(Table):
    name = Varchar(length=20)
    value = Integer()


def _select() -> Any:
    return CallgrindProbe.select(CallgrindProbe.name).where(CallgrindProbe.id == 1)


def _insert() -> Any:
    return CallgrindProbe.insert(CallgrindProbe(name="x", value=1))


def _update() -> Any:
    return CallgrindProbe.update(
        {CallgrindProbe.value: CallgrindProbe.value + 1}
    ).where(CallgrindProbe.id == 1)


async def _main() -> None:
    dsn = os.environ["PGEXT_POSTGRES_DSN"]
    config = {"dsn": dsn}
    requests = _client_requests()
    plain = PostgresEngine(config=config)
    pgext_engine = PgextEngine(config=config, extensions=("postgis",))
    await plain.start_connection_pool(min_size=1, max_size=1)
    await pgext_engine.start_connection_pool(min_size=1, max_size=1)
    await pgext_engine.capabilities()
    seam.bind_engine(CallgrindProbe, plain)
    await CallgrindProbe.alter().drop_table(if_exists=True)
    await CallgrindProbe.create_table()
    await _insert()
    operations: dict[str, Callable[[], Any]] = {
        "select": _select,
        "insert": _insert,
        "update": _update,
    }
    try:
        for operation, query in operations.items():
            engines = [("piccolo", plain), ("pgext", pgext_engine)]
            for label, engine in engines[:1] if VANILLA else engines:
                seam.bind_engine(CallgrindProbe, engine)
                for _ in range(WARM_UP):
                    await query()
                requests.cg_start()
                for _ in range(QUERIES):
                    await query()
                suffix = "-vanilla" if VANILLA else ""
                requests.cg_stop(f"{operation}-{label}{suffix}".encode())
    finally:
        seam.bind_engine(CallgrindProbe, plain)
        await CallgrindProbe.alter().drop_table(if_exists=True)
        await plain.close_connection_pool()
        await pgext_engine.close_connection_pool()
    print(f"{QUERIES} queries per dump", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(_main())

"""Placeholder demo until the full playground lands: starts the harness's
servers, creates a table through the engine and prints what it detected."""

from __future__ import annotations

import asyncio
import sys

from piccolo.columns import Varchar
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.harness.servers import ServerSet


class Greeting(Table):
    text = Varchar()


async def demo(servers: ServerSet) -> None:
    for label, config in (
        ("PostGIS server", servers.postgres_config),
        ("TimescaleDB server", servers.timescale_config),
    ):
        if config is None:
            print(f"{label}: not given")
            continue
        engine = PgextEngine(config=config)
        seam.bind_engine(Greeting, engine)
        await Greeting.alter().drop_table(if_exists=True)
        await Greeting.create_table()
        await Greeting.insert(Greeting(text="hello from pgext"))
        rows = await Greeting.select(Greeting.text)
        caps = await engine.capabilities()
        print(f"{label}: {caps.describe()}; row read back: {rows[0]['text']!r}")


def main(argv: list[str] | None = None) -> int:
    servers = ServerSet.from_environment()
    try:
        asyncio.run(demo(servers))
    finally:
        servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

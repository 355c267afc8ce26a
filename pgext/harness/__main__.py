"""Run a command against servers given the way users give them: through the
DSN variables, as the README's Docker route does.

    python -m pgext.harness --mode shared -- python -m pytest

``shared``
    ONE native cluster, ONE database; both ``PGEXT_POSTGRES_DSN`` and
    ``PGEXT_TIMESCALE_DSN`` point at it.  As in ``docker-compose.yml``'s
    image, TimescaleDB is created there and PostGIS is only available: the
    code under test creates what it needs.
``postgres-only``
    Only ``PGEXT_POSTGRES_DSN`` is given (a PostGIS cluster); whatever needs
    TimescaleDB starts its own.
``timescale-only``
    Only ``PGEXT_TIMESCALE_DSN`` is given (a native TimescaleDB cluster).

The servers stop when the command ends; the exit status is the command's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys

from pgext.engine import PgextEngine
from pgext.harness.native import start_native
from pgext.harness.postgres import LocalPostgres
from pgext.harness.servers import POSTGRES_ENV, SHARED_SESSION_ENV, TIMESCALE_ENV

MODES = ("shared", "postgres-only", "timescale-only")


async def _describe(dsn: str) -> str:
    engine = PgextEngine(config={"dsn": dsn})
    return (await engine.capabilities()).describe()


def _exit_on(number: int, frame: object) -> None:
    # SIGTERM leaves through SystemExit: the command is killed and the
    # servers stop in ``finally`` instead of outliving us.
    raise SystemExit(128 + number)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on)
    parser = argparse.ArgumentParser(prog="python -m pgext.harness")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if args.mode == "postgres-only":
        server = LocalPostgres().start()
        given = {POSTGRES_ENV: server.dsn}
    else:
        server = start_native()
        given = {TIMESCALE_ENV: server.dsn}
        if args.mode == "shared":
            given[POSTGRES_ENV] = server.dsn
    try:
        names = " and ".join(sorted(given))
        print(
            f"pgext harness, mode {args.mode}: {names} -> {server.dsn} "
            f"({asyncio.run(_describe(server.dsn))})",
            flush=True,
        )
        env = {**os.environ, **given}
        # A variable left over from the caller's shell must not override
        # the mode: the other server is the test session's own.
        for name in (POSTGRES_ENV, TIMESCALE_ENV, SHARED_SESSION_ENV):
            if name not in given:
                env.pop(name, None)
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())

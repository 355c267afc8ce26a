"""The playground command.

With no arguments: start the servers (throwaway PostgreSQL + PostGIS and the
PGlite TimescaleDB, or those named by ``PGEXT_POSTGRES_DSN`` /
``PGEXT_TIMESCALE_DSN``), create and fill the example schema with progress
output, and open an IPython shell.  ``--admin`` serves Piccolo Admin and the
pgext widgets instead; ``--run-examples`` runs the tutorial's examples and
exits.  Ctrl-C (or leaving the shell) stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from collections.abc import Coroutine
from typing import Any

from pgext.harness.servers import ServerSet
from pgext.playground import data
from pgext.playground.progress import Reporter


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/playground",
        description=(
            "An example database with PostGIS, TimescaleDB and pub/sub, filled "
            "with generated data, in an IPython shell."
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--admin",
        action="store_true",
        help="serve Piccolo Admin with the pgext map and time-series widgets",
    )
    mode.add_argument(
        "--run-examples",
        action="store_true",
        help="run every example of the tutorial, print the results, exit",
    )
    sizes = ", ".join(
        f"{s.name}: {s.venues:,} venues, {s.readings:,} readings"
        for s in data.SIZES.values()
    )
    parser.add_argument(
        "--size",
        choices=sorted(data.SIZES),
        default=None,
        help=f"how much data ({sizes}); default {data.DEFAULT_SIZE}, "
        "small with --run-examples",
    )
    parser.add_argument("--host", default="127.0.0.1", help="--admin: address")
    parser.add_argument(
        "--port", type=int, default=8000, help="--admin: port (0: any free port)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace tables named like the playground's even when the "
        "playground did not make them (servers given by the environment)",
    )
    parser.add_argument(
        "--no-timescale",
        action="store_true",
        help="do not start a TimescaleDB (readings on plain PostgreSQL)",
    )
    return parser.parse_args(argv)


async def _prepare(
    servers: ServerSet, size: str, reporter: Reporter, force: bool = False
) -> Any:
    from pgext.playground.runtime import Playground

    assert servers.postgres_config is not None
    playground = await Playground.open(
        servers.postgres_config, servers.timescale_config, reporter=reporter
    )
    try:
        if not playground.timescale:
            reporter.say(
                "No TimescaleDB: readings go to a plain PostgreSQL table and "
                "HourlyReading is a view using date_bin (same queries, no "
                "continuous aggregate, no columnstore)."
            )
        await playground.populate(size, force=force)
    except BaseException:
        await playground.close()
        raise
    return playground


def _shell(
    servers: ServerSet,
    size: str,
    reporter: Reporter,
    without: str = "",
    force: bool = False,
) -> None:
    from pgext.playground.servers import describe
    from pgext.playground.shell import run_shell

    with _Runner() as runner:
        playground = runner.run(_prepare(servers, size, reporter, force))
        try:
            banner = "\n".join(
                ["pgext playground", *describe(servers, without), playground.describe()]
            )
            run_shell(playground, runner.run, banner)
        finally:
            runner.run(playground.close())


class _Runner:
    """One event loop for the set-up, every shell cell and the clean-up (the
    pools and hubs belong to it).  ``asyncio.Runner`` (3.11+) also turns
    Ctrl-C into cancelling the running cell; on 3.10 IPython's own loop."""

    def __enter__(self) -> _Runner:
        runner_class = getattr(asyncio, "Runner", None)
        self._runner = runner_class() if runner_class is not None else None
        if self._runner is None:
            from IPython.core.async_helpers import get_asyncio_loop

            self._loop = get_asyncio_loop()  # type: ignore[no-untyped-call]
        return self

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._runner is not None:
            return self._runner.run(coro)
        return self._loop.run_until_complete(coro)

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            self._runner.close()


async def _admin(
    servers: ServerSet, args: argparse.Namespace, size: str, reporter: Reporter
) -> None:
    force = args.force
    from pgext.playground.admin import serve

    _cancel_on_sigterm()
    playground = await _prepare(servers, size, reporter, force)
    try:
        await serve(playground, host=args.host, port=args.port)
    finally:
        await playground.close()


async def _examples(
    servers: ServerSet, size: str, reporter: Reporter, force: bool = False
) -> None:
    from pgext.playground.examples import run_examples

    _cancel_on_sigterm()
    playground = await _prepare(servers, size, reporter, force)
    try:
        assert servers.postgres_config is not None
        count = await run_examples(servers.postgres_config, servers.timescale_config)
    finally:
        await playground.close()
    print(f"\nAll {count} examples of the tutorial ran.")


def _port_free(host: str, port: int) -> bool:
    # Checked before the servers start and the data is loaded, not after.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _cancel_on_sigterm() -> None:
    # SIGTERM (and SIGHUP: the terminal went away) behave like Ctrl-C:
    # cancel the main task, so every ``finally`` runs and the servers stop.
    task = asyncio.current_task()
    if task is not None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(number, task.cancel)


def _exit_on(number: int, frame: object) -> None:
    # Outside the event loop (server start-up, the IPython shell): leave
    # through SystemExit so ``main``'s ``finally`` stops the servers; the
    # throwaway PostgreSQL runs detached and would otherwise outlive us.
    raise SystemExit(128 + number)


def _explain(error: Exception) -> str | None:
    """What to tell the user instead of a traceback (None: a bug, show it)."""
    import asyncpg

    from pgext.errors import ExtensionError, PgextError
    from pgext.harness.servers import POSTGRES_ENV, TIMESCALE_ENV
    from pgext.playground.examples import ExampleFailed

    if isinstance(error, ExtensionError) and "postgis" in str(error):
        return (
            f"{error}\nThe playground needs PostGIS: install it for that "
            "PostgreSQL (Debian/Ubuntu: apt install postgresql-<version>-"
            f"postgis-3), or set {POSTGRES_ENV} to a server that has it."
        )
    if isinstance(error, ExampleFailed | PgextError):
        return str(error)
    # Failing to reach or log in to a server; other database errors are
    # bugs and keep their traceback.
    unreachable = (
        OSError,
        asyncpg.InterfaceError,
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.InvalidCatalogNameError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
    )
    if isinstance(error, unreachable):
        return (
            f"cannot use the database server: {error!r}. Check {POSTGRES_ENV} "
            f"and {TIMESCALE_ENV}, or unset them to let the playground start "
            "throwaway servers."
        )
    return None


def main(argv: list[str] | None = None) -> int:
    from pgext.playground.servers import describe, start

    args = parse(sys.argv[1:] if argv is None else argv)
    # A shell that started us in the background may have left SIGINT
    # ignored; the playground relies on Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _exit_on)
    size = args.size or ("small" if args.run_examples else data.DEFAULT_SIZE)
    if args.admin and args.port and not _port_free(args.host, args.port):
        print(
            f"{args.host}:{args.port} is in use; choose another with --port "
            "(--port 0 picks a free one)",
            file=sys.stderr,
        )
        return 2
    reporter = Reporter()
    reporter.say("pgext playground: PostGIS, TimescaleDB and pub/sub for Piccolo")
    servers: ServerSet | None = None
    try:
        servers = start(reporter, want_timescale=not args.no_timescale)
        without = "--no-timescale" if args.no_timescale else ""
        if servers.timescale_failed:
            without = "the TimescaleDB server did not start"
        for line in describe(servers, without):
            reporter.say(f"  {line}")
        if args.run_examples:
            asyncio.run(_examples(servers, size, reporter, args.force))
        elif args.admin:
            asyncio.run(_admin(servers, args, size, reporter))
        else:
            _shell(servers, size, reporter, without, args.force)
    except KeyboardInterrupt:
        reporter.say("\nInterrupted.")
        return 130
    except asyncio.CancelledError:
        reporter.say("\nStopped.")
        return 143
    except Exception as error:
        explained = _explain(error)
        if explained is None:
            raise
        reporter.say(f"\n{explained}")
        return 1
    finally:
        if servers is not None:
            started = ", ".join(servers.started)
            servers.stop()
            if started:
                reporter.say(f"Stopped the servers the playground started ({started}).")
            else:
                reporter.say("The servers given by the environment keep running.")
    return 0

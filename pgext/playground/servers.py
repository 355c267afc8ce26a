"""Starting the playground's servers: the harness's throwaway PostgreSQL
(+PostGIS) and TimescaleDB (native where installed, else PGlite), in
parallel, or the servers named by ``PGEXT_POSTGRES_DSN`` /
``PGEXT_TIMESCALE_DSN``."""

from __future__ import annotations

import os
import threading

from pgext.harness.native import TimescaleServer, native_version, start_timescale
from pgext.harness.servers import (
    OFF,
    POSTGRES_ENV,
    SHARED_SESSION_ENV,
    TIMESCALE_ENV,
    ServerSet,
    dsn_config,
)
from pgext.harness.timescale import PgliteTimescale
from pgext.playground.progress import Reporter


def describe(servers: ServerSet, without: str = "") -> list[str]:
    """What runs where; ``without`` says why there is no TimescaleDB."""
    lines = []
    if servers.local_postgres is not None:
        lines.append(
            f"PostgreSQL + PostGIS: throwaway cluster at {servers.local_postgres.dsn}"
        )
    elif servers.postgres_config is not None:
        lines.append(f"PostgreSQL + PostGIS: {POSTGRES_ENV}")
    started = servers.timescale_config is not None
    if started and isinstance(servers.local_timescale, PgliteTimescale):
        lines.append(
            f"TimescaleDB: PGlite (WebAssembly) at {servers.local_timescale.dsn}"
        )
    elif started and servers.local_timescale is not None:
        lines.append(
            f"TimescaleDB: native {native_version()}, throwaway cluster at "
            f"{servers.local_timescale.dsn}"
        )
    elif servers.timescale_config is not None:
        lines.append(f"TimescaleDB: {TIMESCALE_ENV}")
    else:
        reason = without or f"{TIMESCALE_ENV}=off"
        lines.append(
            f"TimescaleDB: none ({reason}): readings go to a plain "
            "PostgreSQL table, time buckets use date_bin"
        )
    return lines


def start(reporter: Reporter, want_timescale: bool = True) -> ServerSet:
    """Both servers, started side by side (PGlite takes ~15 s to boot).
    When the own TimescaleDB does not start, ``servers.timescale_failed``
    is set and the playground goes on without it."""
    errors: list[BaseException] = []
    timescale_errors: list[Exception] = []
    found: dict[str, ServerSet] = {}
    own: list[tuple[TimescaleServer, bool]] = []
    given = os.environ.get(TIMESCALE_ENV)
    start_own = want_timescale and not given

    def pick_postgres() -> None:
        try:
            found["postgres"] = ServerSet.from_environment(want_timescale=False)
        except BaseException as error:  # re-raised below
            errors.append(error)

    def start_timescale_server() -> None:
        try:
            own.append(start_timescale())
        except Exception as error:  # reported, then fall back
            timescale_errors.append(error)
        except BaseException as error:  # re-raised below
            errors.append(error)

    threads = [threading.Thread(target=pick_postgres, daemon=True)]
    if start_own:
        threads.append(threading.Thread(target=start_timescale_server, daemon=True))
    servers = ServerSet()
    with reporter.step("starting servers"):
        try:
            # The harness starts PGlite in a session of its own, so a Ctrl-C
            # at the shell's prompt does not reach it.
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException:
            # Ctrl-C while booting: whatever came up goes down.
            for thread in threads:
                thread.join()
            errors.append(KeyboardInterrupt())
        postgres = found.get("postgres")
        if postgres is not None:
            servers.postgres_config = postgres.postgres_config
            servers.local_postgres = postgres.local_postgres
            servers.started += postgres.started
        if timescale_errors:
            reporter.say(
                f"  the TimescaleDB server did not start ({timescale_errors[0]}); "
                "going on without TimescaleDB"
            )
        if own:
            server, shared_session = own[0]
            servers.local_timescale = server
            servers.timescale_config = server.config()
            servers.timescale_shared_session = shared_session
            servers.started.append("timescale")
        elif start_own:
            servers.timescale_failed = True
        elif want_timescale and given != OFF and given:
            servers.timescale_shared_session = os.environ.get(SHARED_SESSION_ENV) == "1"
            servers.timescale_config = dsn_config(
                given, servers.timescale_shared_session
            )
        if errors:
            servers.stop()
            raise errors[0]
    if servers.postgres_config is None:
        servers.stop()
        raise SystemExit(
            f"the playground needs PostgreSQL with PostGIS: unset {POSTGRES_ENV} "
            "(a throwaway server is started) or point it at a server"
        )
    return servers

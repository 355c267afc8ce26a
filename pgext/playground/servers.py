"""Starting the playground's servers: the harness's throwaway PostgreSQL
(+PostGIS) and PGlite TimescaleDB, in parallel, or the servers named by
``PGEXT_POSTGRES_DSN`` / ``PGEXT_TIMESCALE_DSN``."""

from __future__ import annotations

import os
import threading

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
    if servers.local_timescale is not None and servers.timescale_config is not None:
        lines.append(
            f"TimescaleDB: PGlite (WebAssembly) at {servers.local_timescale.dsn}"
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
    """Both servers, started side by side (PGlite takes ~15 s to boot)."""
    errors: list[BaseException] = []
    pglite_errors: list[Exception] = []
    found: dict[str, ServerSet] = {}
    given = os.environ.get(TIMESCALE_ENV)
    pglite = PgliteTimescale() if want_timescale and not given else None

    def pick_postgres() -> None:
        try:
            found["postgres"] = ServerSet.from_environment(want_timescale=False)
        except BaseException as error:  # re-raised below
            errors.append(error)

    def start_pglite() -> None:
        try:
            assert pglite is not None
            pglite.start()
        except Exception as error:  # reported, then fall back
            pglite_errors.append(error)
        except BaseException as error:  # re-raised below
            errors.append(error)

    threads = [threading.Thread(target=pick_postgres, daemon=True)]
    if pglite is not None:
        threads.append(threading.Thread(target=start_pglite, daemon=True))
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
        if pglite_errors:
            reporter.say(
                f"  the PGlite TimescaleDB did not start ({pglite_errors[0]}); "
                "going on without TimescaleDB"
            )
        if pglite is not None:
            servers.local_timescale = pglite
            if pglite.info.get("ready"):
                servers.timescale_config = pglite.config()
                servers.timescale_shared_session = True
                servers.started.append("timescale")
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

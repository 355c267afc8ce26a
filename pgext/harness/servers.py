"""Which servers a test run, benchmark or playground uses.

Environment variables point at servers that already run (the compose stack,
for instance); where none is given, a throwaway server is started:

``PGEXT_POSTGRES_DSN``
    PostgreSQL with PostGIS, used for PostGIS and pub/sub.
``PGEXT_TIMESCALE_DSN``
    A server with TimescaleDB; when not given, the harness starts a native
    one where it is installed, else PGlite (``PGEXT_TIMESCALE_ENGINE``).
    ``PGEXT_TIMESCALE_SHARED_SESSION=1`` marks a given server as a
    PGlite-style server where all clients share one session.

The value ``off`` means "the user chose not to give this server": tests that
need it are skipped and say which server is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pgext.harness.native import TimescaleServer, start_timescale
from pgext.harness.postgres import LocalPostgres
from pgext.harness.timescale import CLIENT_SETTINGS

POSTGRES_ENV = "PGEXT_POSTGRES_DSN"
TIMESCALE_ENV = "PGEXT_TIMESCALE_DSN"
SHARED_SESSION_ENV = "PGEXT_TIMESCALE_SHARED_SESSION"
OFF = "off"


def dsn_config(dsn: str, shared_session: bool = False) -> dict[str, Any]:
    """A Piccolo engine ``config`` for ``dsn``."""
    config: dict[str, Any] = {"dsn": dsn}
    if shared_session:
        config.update(CLIENT_SETTINGS)
    return config


@dataclass
class ServerSet:
    """The PostGIS server and the TimescaleDB server of one run."""

    postgres_config: dict[str, Any] | None = None
    timescale_config: dict[str, Any] | None = None
    timescale_shared_session: bool = False
    local_postgres: LocalPostgres | None = None
    local_timescale: TimescaleServer | None = None
    started: list[str] = field(default_factory=list)
    # The harness tried to start its own TimescaleDB and could not.
    timescale_failed: bool = False

    @classmethod
    def from_environment(
        cls, want_postgres: bool = True, want_timescale: bool = True
    ) -> ServerSet:
        servers = cls()
        try:
            if want_postgres:
                servers._pick_postgres()
            if want_timescale:
                servers._pick_timescale()
        except BaseException:
            servers.stop()
            raise
        return servers

    def _pick_postgres(self) -> None:
        given = os.environ.get(POSTGRES_ENV)
        if given == OFF:
            return
        if given:
            self.postgres_config = dsn_config(given)
            return
        self.local_postgres = LocalPostgres().start()
        self.postgres_config = dsn_config(self.local_postgres.dsn)
        self.started.append("postgres")

    def _pick_timescale(self) -> None:
        given = os.environ.get(TIMESCALE_ENV)
        if given == OFF:
            return
        if given:
            self.timescale_shared_session = os.environ.get(SHARED_SESSION_ENV) == "1"
            self.timescale_config = dsn_config(given, self.timescale_shared_session)
            return
        self.local_timescale, self.timescale_shared_session = start_timescale()
        self.timescale_config = self.local_timescale.config()
        self.started.append("timescale")

    def stop(self) -> None:
        if self.local_timescale is not None:
            self.local_timescale.stop()
            self.local_timescale = None
        if self.local_postgres is not None:
            self.local_postgres.stop()
            self.local_postgres = None

"""Throwaway database servers for tests, benchmarks and the playground.

``LocalPostgres`` runs a private PostgreSQL cluster (with PostGIS when its
package is installed) from the Debian binaries, and ``PgliteTimescale`` serves
a real TimescaleDB compiled to WebAssembly.  Neither needs Docker.
"""

from pgext.harness.postgres import LocalPostgres
from pgext.harness.servers import ServerSet, dsn_config
from pgext.harness.timescale import PgliteTimescale

__all__ = ["LocalPostgres", "PgliteTimescale", "ServerSet", "dsn_config"]

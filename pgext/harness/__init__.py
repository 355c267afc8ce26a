"""Throwaway database servers for tests, benchmarks and the playground.

``LocalPostgres`` runs a private PostgreSQL cluster (with PostGIS when its
package is installed) from the Debian binaries; ``start_native`` runs one
with a native TimescaleDB preloaded (community or Apache licence) where that
is installed, and ``PgliteTimescale`` serves a real TimescaleDB compiled to
WebAssembly where it is not (``start_timescale`` picks).  None needs Docker.
"""

from pgext.harness.citus import CitusCluster, citus_version
from pgext.harness.native import native_version, start_native, start_timescale
from pgext.harness.postgres import LocalPostgres
from pgext.harness.servers import ServerSet, dsn_config
from pgext.harness.timescale import PgliteTimescale

__all__ = [
    "CitusCluster",
    "LocalPostgres",
    "PgliteTimescale",
    "ServerSet",
    "citus_version",
    "dsn_config",
    "native_version",
    "start_native",
    "start_timescale",
]

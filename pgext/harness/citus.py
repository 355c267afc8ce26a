"""A throwaway Citus cluster: one node that holds shards itself (cheap, for
most tests), or a coordinator with worker nodes on other ports of this
machine (for what only crosses nodes).

Citus is not in Debian's packages; ``scripts/setup`` installs the build from
the project's shared folder (``../shared/citus``) when there is one.  Every
node preloads Citus and has ``citus`` and PostGIS created in its database
(Citus wants the same extensions on every node).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgext.errors import ServerError
from pgext.harness.postgres import LocalPostgres, find_bindir, postgis_installed


def _pg_config(bindir: Path, flag: str) -> str:
    done = subprocess.run(
        [str(bindir / "pg_config"), flag], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def citus_version(bindir: Path | None = None) -> str | None:
    """The Citus extension version installed for this PostgreSQL, or None."""
    try:
        bindir = bindir or find_bindir()
    except ServerError:
        return None
    libdir = _pg_config(bindir, "--pkglibdir")
    control = Path(_pg_config(bindir, "--sharedir"), "extension", "citus.control")
    if not libdir or not Path(libdir, "citus.so").exists() or not control.exists():
        return None
    found = re.search(r"default_version\s*=\s*'([^']+)'", control.read_text())
    return found.group(1) if found else None


def citus_settings() -> dict[str, str]:
    """Server settings of one Citus node on a shared test machine."""
    return {
        "shared_preload_libraries": "citus",
        # No internet here, and no reason to report home from a test.
        "citus.enable_statistics_collection": "off",
        # Transactions that write on several nodes commit in two phases.
        "max_prepared_transactions": "100",
        # Online shard moves need logical decoding.
        "wal_level": "logical",
        # Every node runs on the same two cores: a few connections per
        # node and query are plenty, and keep max_connections in reach.
        "citus.max_adaptive_executor_pool_size": "4",
    }


@dataclass
class CitusCluster:
    """``workers=0``: the coordinator alone, holding shards; ``workers=2``: a
    coordinator and two workers.  Start with :meth:`start`, stop with
    :meth:`stop` (or use ``with``)."""

    workers: int = 0
    coordinator: LocalPostgres | None = None
    worker_nodes: list[LocalPostgres] = field(default_factory=list)

    def start(self) -> CitusCluster:
        if citus_version() is None:
            raise ServerError(
                "Citus is not installed for this PostgreSQL; run scripts/setup "
                "(it installs the build from ../shared/citus when there is one)"
            )
        bindir = find_bindir()
        extensions = ("citus", "postgis") if postgis_installed(bindir) else ("citus",)
        try:
            for _ in range(self.workers):
                self.worker_nodes.append(
                    LocalPostgres(settings=citus_settings(), extensions=extensions)
                )
                self.worker_nodes[-1].start()
            self.coordinator = LocalPostgres(
                settings=citus_settings(), extensions=extensions
            ).start()
            port = self.coordinator.port
            # Names and ports come from the harness, never from users.
            self.coordinator.run_sql(
                f"SELECT citus_set_coordinator_host('127.0.0.1', {port})"
            )
            if self.workers == 0:
                self.coordinator.run_sql(
                    "SELECT citus_set_node_property('127.0.0.1', "
                    f"{port}, 'shouldhaveshards', true)"
                )
            for worker in self.worker_nodes:
                self.coordinator.run_sql(
                    f"SELECT citus_add_node('127.0.0.1', {worker.port})"
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.coordinator is not None:
            self.coordinator.stop()
            self.coordinator = None
        for worker in self.worker_nodes:
            worker.stop()
        self.worker_nodes = []

    def __enter__(self) -> CitusCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def dsn(self) -> str:
        """The coordinator, where clients connect."""
        assert self.coordinator is not None, "the cluster is not running"
        return self.coordinator.dsn

    def config(self) -> dict[str, Any]:
        return {"dsn": self.dsn}

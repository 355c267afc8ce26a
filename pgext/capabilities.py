"""What the connected server can do: one typed object, asked before emitting
version-specific SQL.

Detection is one round trip (see :data:`DETECT_SQL`), so the engine caches the
result and refreshes it after it creates an extension.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pgext.errors import (
    ExtensionNotAvailable,
    ExtensionNotInstalled,
    ExtensionNotPreloaded,
    LicenseError,
)

Version = tuple[int, ...]

# Extensions that refuse CREATE EXTENSION unless loaded at server start.
PRELOAD_REQUIRED = frozenset({"timescaledb"})

DETECT_SQL = """
SELECT
    current_setting('server_version_num')::int AS server_version_num,
    current_setting('server_version') AS server_version,
    current_setting('shared_preload_libraries', true) AS preload,
    current_setting('timescaledb.license', true) AS timescaledb_license,
    (
        SELECT coalesce(json_agg(json_build_object(
            'name', name,
            'default_version', default_version,
            'installed_version', installed_version
        )), '[]'::json)::text
        FROM pg_available_extensions
    ) AS extensions
"""

# The extensions pgext builds on; ``describe`` lists these first.
KNOWN_EXTENSIONS: tuple[str, ...] = ("postgis", "timescaledb", "citus")


def parse_version(text: str | None) -> Version | None:
    """``'3.3.2'`` -> ``(3, 3, 2)``; ``'2.23.0-dev'`` -> ``(2, 23, 0)``."""
    if not text:
        return None
    numbers = re.findall(r"\d+", text.split("-")[0])
    return tuple(int(n) for n in numbers) if numbers else None


@dataclass(frozen=True)
class ExtensionInfo:
    """One extension as the server reports it."""

    name: str
    default_version: str | None
    installed_version: str | None

    @property
    def installed(self) -> bool:
        return self.installed_version is not None

    @property
    def version(self) -> Version | None:
        """The installed version, parsed for comparisons."""
        return parse_version(self.installed_version)


@dataclass(frozen=True)
class Capabilities:
    """The server's version and the state of the extensions pgext uses."""

    server_version_num: int
    server_version: str
    extensions: Mapping[str, ExtensionInfo] = field(default_factory=dict)
    preload_libraries: tuple[str, ...] = ()
    timescaledb_license: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Capabilities:
        import json

        infos = {
            item["name"]: ExtensionInfo(
                name=item["name"],
                default_version=item["default_version"],
                installed_version=item["installed_version"],
            )
            for item in json.loads(row["extensions"])
        }
        preload = tuple(
            lib.strip().strip('"')
            for lib in (row["preload"] or "").split(",")
            if lib.strip()
        )
        return cls(
            server_version_num=int(row["server_version_num"]),
            server_version=str(row["server_version"]),
            extensions=infos,
            preload_libraries=preload,
            timescaledb_license=row["timescaledb_license"],
        )

    # -- questions later code asks -------------------------------------------------

    def available(self, name: str) -> bool:
        return name in self.extensions

    def installed(self, name: str) -> bool:
        info = self.extensions.get(name)
        return info is not None and info.installed

    def version(self, name: str) -> Version | None:
        info = self.extensions.get(name)
        return info.version if info else None

    def at_least(self, name: str, *minimum: int) -> bool:
        """True when ``name`` is installed at ``minimum`` or newer."""
        found = self.version(name)
        return found is not None and found >= tuple(minimum)

    @property
    def postgres_major(self) -> int:
        return self.server_version_num // 10000

    @property
    def postgis(self) -> Version | None:
        return self.version("postgis")

    @property
    def timescaledb(self) -> Version | None:
        return self.version("timescaledb")

    @property
    def citus(self) -> Version | None:
        """Citus's version in this database (``13.2-1`` -> ``(13, 2, 1)``)."""
        return self.version("citus")

    @property
    def timescaledb_community(self) -> bool:
        """False on Apache-only builds (no compression/continuous aggregates
        policies of the community licence)."""
        return self.timescaledb_license == "timescale"

    # -- explaining what is missing -------------------------------------------------

    def check_creatable(self, name: str) -> None:
        """Raise a clear error when ``CREATE EXTENSION name`` cannot work."""
        if name not in self.extensions:
            raise ExtensionNotAvailable(
                f"extension {name!r} is not available on this server "
                f"(PostgreSQL {self.server_version}); install its package "
                "on the database host"
            )
        if name in PRELOAD_REQUIRED and name not in self.preload_libraries:
            raise ExtensionNotPreloaded(
                f"extension {name!r} must be listed in shared_preload_libraries "
                "(postgresql.conf) and the server restarted before "
                "CREATE EXTENSION can run"
            )

    def require(self, name: str, *minimum: int) -> Version:
        """Return the installed version of ``name`` or raise a clear error."""
        if not self.installed(name):
            if name not in self.extensions:
                self.check_creatable(name)
            raise ExtensionNotInstalled(
                f"extension {name!r} is not installed in this database; run "
                f"CREATE EXTENSION {name} (or engine.ensure_extension({name!r}))"
            )
        found = self.version(name)
        assert found is not None
        if minimum and found < tuple(minimum):
            wanted = ".".join(map(str, minimum))
            have = ".".join(map(str, found))
            raise ExtensionNotAvailable(
                f"extension {name!r} {wanted}+ is needed; this database has {have}"
            )
        return found

    def require_community(self, feature: str) -> None:
        """Raise when TimescaleDB runs with the Apache-only licence."""
        self.require("timescaledb")
        if not self.timescaledb_community:
            raise LicenseError(
                f"{feature} needs TimescaleDB's community licence; this server "
                f"runs timescaledb.license={self.timescaledb_license!r}"
            )

    def describe(self) -> str:
        """A short human summary, for logs and the playground banner."""
        parts = [f"PostgreSQL {self.server_version}"]
        for name in KNOWN_EXTENSIONS:
            info = self.extensions.get(name)
            if info is None:
                # Citus is optional scale-out: its absence is not news.
                if name != "citus":
                    parts.append(f"{name} not available")
                continue
            state = info.installed_version or f"available {info.default_version}"
            parts.append(f"{info.name} {state}")
        if self.timescaledb_license:
            parts.append(f"timescaledb.license={self.timescaledb_license}")
        return ", ".join(parts)

"""What a benchmark measured, asked of the server itself: a results file
must describe the server that ran, also when the DSN variables pointed the
run at another one."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import asyncpg

_DESCRIBE_SQL = """
SELECT version() AS version,
       current_setting('fsync') AS fsync,
       current_setting('synchronous_commit') AS synchronous_commit,
       (SELECT coalesce(json_object_agg(extname, extversion ORDER BY extname), '{}')
        FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql')::text AS extensions
"""
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


async def describe_server(config: dict[str, Any]) -> str:
    """One line: ``version()``, extensions with versions, ``fsync``,
    ``synchronous_commit`` and the server's core count."""
    connection = await asyncpg.connect(**config)
    try:
        row = await connection.fetchrow(_DESCRIBE_SQL)
        cores = await _cores(connection, str(config.get("dsn", "")))
    finally:
        await connection.close()
    # version() ends in ", compiled by gcc ..., 64-bit": not about the server.
    version = str(row["version"]).split(", compiled by")[0]
    extensions = ", ".join(
        f"{name} {found}" for name, found in json.loads(row["extensions"]).items()
    )
    return (
        f"{version}; extensions: {extensions or 'none'}; "
        f"fsync={row['fsync']}, synchronous_commit={row['synchronous_commit']}; "
        f"{cores}"
    )


async def _cores(connection: asyncpg.Connection, dsn: str) -> str:
    """The server host's CPU count: from the server's /proc/cpuinfo when it
    lets us read it (superuser on Linux), else the client's own count when
    the server runs on the same host, else unknown."""
    try:
        cpuinfo = await connection.fetchval("SELECT pg_read_file('/proc/cpuinfo')")
    except asyncpg.PostgresError:
        cpuinfo = None
    if cpuinfo:
        count = sum(line.startswith("processor") for line in cpuinfo.splitlines())
        return f"{count} cores (server's /proc/cpuinfo)"
    host = urlsplit(dsn).hostname or ""
    if host in _LOCAL_HOSTS or host.startswith("/"):
        return f"{len(os.sched_getaffinity(0))} cores (same host as the client)"
    return "core count not readable on the server"

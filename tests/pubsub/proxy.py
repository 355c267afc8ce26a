"""A local TCP proxy for fault injection.

``stall()`` makes every connection open at that moment go silent: sockets
stay open but no byte is passed on in either direction, which is what a
half-open connection (peer gone, no FIN or RST) looks like to a client.
Connections made afterwards are forwarded normally, as after a network
path recovers.
"""

from __future__ import annotations

import asyncio
import contextlib


class StallingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        # Client-side port -> the event that lets its bytes through.
        self._by_port: dict[int, asyncio.Event] = {}
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> StallingProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stall(self, only: set[int] | None = None) -> int:
        """Stall the open connections (only those whose client-side port is
        in ``only``, if given); returns how many."""
        stalled = 0
        for port, live in list(self._by_port.items()):
            if only is None or port in only:
                live.clear()
                del self._by_port[port]
                stalled += 1
        return stalled

    def open_ports(self) -> set[int]:
        """Client-side ports of the connections open and not stalled."""
        return set(self._by_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection(
            self.target_host, self.target_port
        )
        live = asyncio.Event()
        live.set()
        self._by_port[writer.get_extra_info("peername")[1]] = live
        self._writers += [writer, up_writer]
        loop = asyncio.get_running_loop()
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = loop.create_task(self._pipe(source, sink, live))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, live: asyncio.Event
    ) -> None:
        try:
            while True:
                data = await source.read(65536)
                if not data:
                    break
                await live.wait()  # a stalled connection holds bytes forever
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()

"""The browser bridge: stream channels to browsers over Server-Sent Events and
WebSocket from a Starlette app.

::

    bridge = Bridge(hub, [orders, prices], authorize=authenticated)
    app = Starlette(routes=[Mount("/live", routes=bridge.routes())])
    # GET /live/sse/orders  (EventSource)      WS /live/ws/orders

Only the channels given to the bridge can be streamed (anything else is
404).  Durable channels resume from ``Last-Event-ID`` (sent by
``EventSource`` on reconnect) or ``?last_id=``.  Every client has its own
bounded queue: a slow client is skipped ahead (with a ``gap`` event saying how
many messages it lost) or disconnected, and never delays anybody else.  SSE
framing, keep-alive comments and send timeouts come from ``sse-starlette``.

The parts, each in a module of its own: who is admitted to which channel
(:mod:`~pgext.pubsub.bridge_admission`), the two protocols
(:mod:`~pgext.pubsub.bridge_sse`, :mod:`~pgext.pubsub.bridge_websocket`),
the per-channel fan-out (:mod:`~pgext.pubsub.bridge_fanout`) and what goes
on the wire (:mod:`~pgext.pubsub.bridge_wire`); this one holds them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Iterable, Mapping
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from pgext.pubsub.bridge_admission import Authorize, admit, allow_list, authenticated
from pgext.pubsub.bridge_fanout import Client, Fanout, MessageKey
from pgext.pubsub.bridge_sse import EventStream, keep_alive, sse_chunks
from pgext.pubsub.bridge_websocket import (
    WS_GOING_AWAY,
    WS_TRY_AGAIN_LATER,
    deny,
    stream_to_websocket,
)
from pgext.pubsub.bridge_wire import Frame, gap_frame
from pgext.pubsub.channel import Channel
from pgext.pubsub.errors import SubscriberTooSlow, SubscriptionClosed
from pgext.pubsub.mailbox import Overflow

# What the bridge serves, and what was importable from here before the
# protocols moved into modules of their own.
__all__ = [
    "MAX_BATCH",
    "WS_GOING_AWAY",
    "WS_TRY_AGAIN_LATER",
    "Authorize",
    "Bridge",
    "authenticated",
]

logger = logging.getLogger("pgext.pubsub.bridge")

MAX_BATCH = 64


class Bridge:
    """Starlette endpoints streaming ``channels`` of ``hub`` to browsers.

    :param channels: the allow-list: ``Channel`` objects (served under their
        own names) or a mapping of public name to ``Channel``.
    :param authorize: ``authorize(connection, channel)`` (sync or async) must
        return ``True`` to admit the client; anything else gives 403, and the
        hook may raise ``HTTPException(401)`` itself (see
        :func:`authenticated`).  It gets the ``Request`` / ``WebSocket``.
    :param queue_size: frames buffered per client.
    :param overflow: what a full client queue does.  Default: DISCONNECT on
        durable channels (the browser reconnects and resumes without loss),
        DROP_OLDEST on plain ones (the client gets a ``gap`` event with the
        number of messages it lost).  KEEP_LATEST keeps the newest message
        per ``key(message)``.
    :param heartbeat: seconds between keep-alive comments (SSE) or
        ``{"type": "heartbeat"}`` frames (WebSocket); 0 disables them.
    :param send_timeout: a client whose socket accepts nothing for this long
        is disconnected (the connection is aborted).
    :param retry: reconnection delay in milliseconds suggested to
        ``EventSource`` (the SSE ``retry:`` field).
    :param replay_batch: outbox positions read per query when resuming.
    :param buffer: the bound of each channel's shared hub subscription.
    """

    def __init__(
        self,
        hub: Any,
        channels: Iterable[Channel[Any]] | Mapping[str, Channel[Any]],
        *,
        authorize: Authorize | None = None,
        queue_size: int = 256,
        overflow: Overflow | None = None,
        key: MessageKey | None = None,
        heartbeat: float = 15.0,
        send_timeout: float = 10.0,
        retry: int | None = None,
        replay_batch: int = 500,
        buffer: int = 10_000,
    ) -> None:
        self.hub = hub
        self.channels = allow_list(channels)
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if heartbeat < 0 or send_timeout <= 0:
            raise ValueError("heartbeat must be >= 0 and send_timeout > 0")
        if overflow is Overflow.KEEP_LATEST and key is None:
            raise ValueError("Overflow.KEEP_LATEST needs key=")
        self.authorize = authorize
        self.queue_size = queue_size
        self.overflow = overflow
        self.key = key
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self.retry = retry
        self.replay_batch = replay_batch
        self.buffer = buffer
        self._fanouts: dict[str, Fanout] = {}
        self._lock = asyncio.Lock()
        self._clients: set[Client] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._server_exit: anyio.Event | None = None
        self._exit_watch: asyncio.Future[None] | None = None
        self.shutdown_grace = 2.0
        self.connections = 0
        self.slow_disconnects = 0
        self.replayed = 0
        self._dropped_closed = 0

    # -- routing --

    def routes(self) -> list[BaseRoute]:
        """``/sse/{channel}`` and ``/ws/{channel}``, to mount anywhere."""
        return [
            Route("/sse/{channel}", self.sse, methods=["GET"]),
            WebSocketRoute("/ws/{channel}", self.websocket),
        ]

    # -- Server-Sent Events --

    async def sse(self, request: Request) -> Response:
        channel, after = await self._admit(request)
        client = self._client(channel)
        return EventStream(
            sse_chunks(self._frames(channel, client, after), self.retry),
            ping=self.heartbeat,
            ping_message_factory=keep_alive,
            send_timeout=self.send_timeout,
            on_abort=self._aborted,
            # sse-starlette sets this when the server is shutting down (it
            # watches uvicorn's exit flag); the bridge then ends every stream
            # so each response finishes properly within the grace period.
            shutdown_event=self._server_exit_event(),
            shutdown_grace_period=self.shutdown_grace,
        )

    def _server_exit_event(self) -> anyio.Event:
        if self._server_exit is None:
            self._server_exit = anyio.Event()
            self._exit_watch = asyncio.ensure_future(
                self._on_server_exit(self._server_exit)
            )
        return self._server_exit

    async def _on_server_exit(self, event: anyio.Event) -> None:
        await event.wait()
        logger.info("pgext bridge: server shutting down, ending streams")
        self._closed = True
        for client in list(self._clients):
            client.close()

    def _aborted(self, error: BaseException) -> None:
        self.slow_disconnects += 1
        logger.info("pgext bridge: aborted a slow SSE client (%r)", error)

    # -- WebSocket --

    async def websocket(self, websocket: WebSocket) -> None:
        try:
            channel, after = await self._admit(websocket)
        except HTTPException as error:
            await deny(websocket, error)
            return
        await websocket.accept()
        client = self._client(channel)
        await stream_to_websocket(
            websocket,
            self._frames(channel, client, after),
            heartbeat=self.heartbeat,
            send_timeout=self.send_timeout,
            on_slow=self._slow_websocket,
        )

    def _slow_websocket(self) -> None:
        self.slow_disconnects += 1

    # -- shared by both protocols --

    async def _admit(
        self, connection: HTTPConnection
    ) -> tuple[Channel[Any], int | None]:
        """The channel and resume position, or an HTTPException (404 unknown
        channel, 401/403 refused, 400 bad resume id, 503 shutting down)."""
        channel, after = await admit(connection, self.channels, self.authorize)
        if self._closed:
            raise HTTPException(503, "shutting down")
        return channel, after

    def _client(self, channel: Channel[Any]) -> Client:
        overflow = self.overflow
        if overflow is None:
            overflow = Overflow.DISCONNECT if channel.durable else Overflow.DROP_OLDEST
        return Client(channel.name, self.queue_size, overflow, self.key)

    async def _frames(
        self, channel: Channel[Any], client: Client, after: int | None
    ) -> AsyncGenerator[list[Frame], None]:
        """The client's events in batches: replay (durable resume), then live
        frames; a batch holds what is queued already (at most
        ``MAX_BATCH``), so a client that fell behind catches up in fewer,
        larger writes.

        Joins the channel only when iteration starts (a HEAD request or a
        response that never starts leaves nothing behind) and leaves it in
        ``finally`` without awaiting, as cancellation may be in progress."""
        try:
            fanout, position = await self._join(channel, client)
        except SubscriptionClosed:
            return
        try:
            floor = -1
            if after is not None and channel.durable:
                if after < position:
                    async for frame in fanout.replay(
                        after, position, self.replay_batch
                    ):
                        if frame.id is not None:
                            client.replayed += 1
                            self.replayed += 1
                        yield [frame]
                floor = max(after, position)
            elif after is not None:
                yield [gap_frame(channel.name, reason="not-resumable", after=after)]
            while True:
                try:
                    batch = [await client.next()]
                except SubscriptionClosed:
                    return
                while len(batch) < MAX_BATCH:
                    try:
                        more = client.next_nowait()
                    except (SubscriptionClosed, SubscriberTooSlow):
                        break  # raised again by next(), after this batch
                    if more is None:
                        break
                    batch.append(more)
                batch = [f for f in batch if f.id is None or f.id > floor]
                if batch:
                    yield batch
        finally:
            self._leave(fanout, client)

    async def _join(self, channel: Channel[Any], client: Client) -> tuple[Fanout, int]:
        async with self._lock:
            if self._closed:
                raise SubscriptionClosed("bridge closed")
            fanout = self._fanouts.get(channel.name)
            if fanout is None or fanout.closed:
                fanout = Fanout(self.hub, channel, buffer=self.buffer)
                await fanout.start()
                self._fanouts[channel.name] = fanout
            position = fanout.add(client)
            self._clients.add(client)
            self.connections += 1
            self._idle.clear()
            return fanout, position

    def _leave(self, fanout: Fanout, client: Client) -> None:
        fanout.discard(client)
        client.close()
        if client in self._clients:
            self._clients.discard(client)
            self._dropped_closed += client.dropped
        if not self._clients:
            self._idle.set()
        if not fanout.clients:
            self._spawn(self._retire(fanout))

    async def _retire(self, fanout: Fanout) -> None:
        """Stop a channel's shared subscription once nobody listens (unless a
        client joined again meanwhile)."""
        async with self._lock:
            if fanout.clients:
                return
            if self._fanouts.get(fanout.channel.name) is fanout:
                del self._fanouts[fanout.channel.name]
        await fanout.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lifecycle and numbers --

    async def close(self, timeout: float = 5.0) -> None:
        """End every stream (SSE responses finish, WebSockets close with
        1001) and stop the shared subscriptions; waits up to ``timeout`` for
        the connections to finish.  New clients get 503."""
        self._closed = True
        if self._exit_watch is not None:
            self._exit_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._exit_watch
        for client in list(self._clients):
            client.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        async with self._lock:
            fanouts = list(self._fanouts.values())
            self._fanouts.clear()
        for fanout in fanouts:
            await fanout.close()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def __aenter__(self) -> Bridge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def stats(self) -> dict[str, Any]:
        """Counters: ``clients`` now connected, ``connections`` ever,
        ``slow_disconnects`` (queue overflow under DISCONNECT or a send
        timeout), ``dropped`` messages (skipped for slow clients), messages
        ``replayed`` from the outbox, and per channel its client count and
        events dispatched."""
        return {
            "clients": len(self._clients),
            "connections": self.connections,
            "slow_disconnects": self.slow_disconnects,
            "dropped": self._dropped_closed + sum(c.dropped for c in self._clients),
            "replayed": self.replayed,
            "channels": {
                name: {"clients": len(f.clients), "dispatched": f.dispatched}
                for name, f in self._fanouts.items()
            },
        }

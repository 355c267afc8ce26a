"""The browser bridge's WebSocket side: refusing a handshake, and streaming
a client's frame batches (with heartbeats while idle) until the browser
leaves, the stream ends or the client is too slow."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable

import anyio
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from pgext.pubsub.bridge_wire import HEARTBEAT_WS, Frame
from pgext.pubsub.errors import SubscriberTooSlow

# The bridge's logger: one name for everything the bridge reports.
logger = logging.getLogger("pgext.pubsub.bridge")

# WebSocket close codes (RFC 6455 / IANA registry).
WS_GOING_AWAY = 1001
WS_TRY_AGAIN_LATER = 1013


async def deny(websocket: WebSocket, error: HTTPException) -> None:
    """Refuse a WebSocket handshake with the HTTP status when the server
    supports denial responses, else with close code 1008 (policy)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            PlainTextResponse(str(error.detail), status_code=error.status_code)
        )
    else:
        await websocket.close(code=1008, reason=str(error.detail)[:120])


async def stream_to_websocket(
    websocket: WebSocket,
    frames: AsyncGenerator[list[Frame], None],
    *,
    heartbeat: float,
    send_timeout: float,
    on_slow: Callable[[], None],
) -> None:
    """Send ``frames`` on an accepted ``websocket`` until one side ends, then
    close it (1001 when the stream ended, 1013 when the client was too
    slow, calling ``on_slow``)."""
    sender = asyncio.get_running_loop().create_task(
        _send(websocket, frames, heartbeat, send_timeout, on_slow)
    )
    receiver = asyncio.get_running_loop().create_task(_drain(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        browser_left = receiver.done()
    finally:
        # Also when this handler is cancelled: no task may outlive it.
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
    if browser_left:
        return  # nothing to close
    code = WS_GOING_AWAY
    if not sender.cancelled():
        failure = sender.exception()
        if failure is None:
            code = sender.result()
        else:
            logger.error("pgext bridge: WebSocket stream failed", exc_info=failure)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code), send_timeout)


async def _send(
    websocket: WebSocket,
    frames: AsyncGenerator[list[Frame], None],
    heartbeat: float,
    send_timeout: float,
    on_slow: Callable[[], None],
) -> int:
    """Send frames (and heartbeats while idle); return the close code."""
    iterator = frames.__aiter__()
    pending: asyncio.Future[list[Frame]] | None = None
    timeout = heartbeat or None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=timeout)
            if done:
                task, pending = pending, None
                try:
                    texts = [frame.ws() for frame in task.result()]
                except StopAsyncIteration:
                    return WS_GOING_AWAY
                except SubscriberTooSlow:
                    on_slow()
                    return WS_TRY_AGAIN_LATER
            else:
                texts = [HEARTBEAT_WS]
            # One cancel scope per batch (asyncio.wait_for would start a
            # task per send).
            with anyio.move_on_after(send_timeout) as scope:
                for text in texts:
                    await websocket.send_text(text)
            if scope.cancelled_caught:
                on_slow()
                return WS_TRY_AGAIN_LATER
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await frames.aclose()


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the browser sends until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

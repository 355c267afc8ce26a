"""The browser bridge's Server-Sent Events side: the response body made of a
client's frame batches, and a response that gives up on a client that
stopped reading.  Framing, keep-alive comments and send timeouts come from
``sse-starlette``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse, SendTimeoutError
from starlette.types import Receive, Scope, Send

from pgext.pubsub.bridge_wire import Frame
from pgext.pubsub.errors import SubscriberTooSlow


async def sse_chunks(
    frames: AsyncGenerator[list[Frame], None], retry: int | None
) -> AsyncIterator[bytes]:
    """The body: the ``retry:`` field suggested to ``EventSource`` (when
    given), then one chunk per batch of ``frames``."""
    if retry is not None:
        prelude: bytes = ServerSentEvent(retry=retry).encode()
        yield prelude
    # aclosing: leave the channel as soon as this stream ends, not when
    # the garbage collector finalises the inner generator.
    async with contextlib.aclosing(frames):
        async for batch in frames:
            # One chunk per batch: fewer sends when a client is behind.
            yield b"".join([frame.sse() for frame in batch])


def keep_alive() -> ServerSentEvent:
    """A comment line, which ``EventSource`` ignores."""
    return ServerSentEvent(comment="keep-alive")


class EventStream(EventSourceResponse):
    """An SSE response that, when its client stops draining the socket,
    gives up without the closing chunk (sending it would block as well): the
    server then aborts the connection."""

    def __init__(
        self, *args: Any, on_abort: Callable[[BaseException], None], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._on_abort = on_abort

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (SendTimeoutError, SubscriberTooSlow) as error:
            self._on_abort(error)

"""Who may stream what from the browser bridge: the channels it serves (its
allow-list), the ``authorize`` hook, and the position a client resumes
after.  The same for Server-Sent Events and WebSocket."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from pgext.pubsub.bridge_wire import BadResumeId, parse_resume_id
from pgext.pubsub.channel import Channel, validate_channel_name
from pgext.pubsub.errors import InvalidChannel

Authorize = Callable[[HTTPConnection, Channel[Any]], "bool | Awaitable[bool]"]


def authenticated(connection: HTTPConnection, channel: Channel[Any]) -> bool:
    """An ``authorize`` hook admitting any authenticated user: 401 otherwise.

    Works with Starlette's ``AuthenticationMiddleware`` and any backend that
    sets ``scope["user"]``, e.g. piccolo_api's ``SessionsAuthBackend``."""
    user = connection.scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        raise HTTPException(401, "authentication required")
    return True


def allow_list(
    channels: Iterable[Channel[Any]] | Mapping[str, Channel[Any]],
) -> dict[str, Channel[Any]]:
    """The channels a bridge serves, by public name (checked: pgext
    channels, valid names, each once, at least one)."""
    items = (
        channels.items()
        if isinstance(channels, Mapping)
        else ((c.name, c) for c in channels)
    )
    allowed: dict[str, Channel[Any]] = {}
    for name, channel in items:
        if not isinstance(channel, Channel):
            raise InvalidChannel("the bridge serves pgext.pubsub.Channel objects")
        validate_channel_name(name)
        if name in allowed:
            raise InvalidChannel(f"channel {name!r} is listed twice")
        allowed[name] = channel
    if not allowed:
        raise InvalidChannel("the bridge needs at least one channel")
    return allowed


async def admit(
    connection: HTTPConnection,
    channels: Mapping[str, Channel[Any]],
    authorize: Authorize | None,
) -> tuple[Channel[Any], int | None]:
    """The channel and resume position, or an HTTPException (404 unknown
    channel, 401/403 refused, 400 bad resume id)."""
    channel = channels.get(connection.path_params.get("channel", ""))
    if channel is None:
        raise HTTPException(404, "unknown channel")
    if authorize is not None:
        allowed = authorize(connection, channel)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if allowed is not True:
            raise HTTPException(403, "not allowed on this channel")
    try:
        # The header (EventSource's reconnect) is newer than a query
        # parameter the page was first opened with.
        after = parse_resume_id(connection.headers.get("last-event-id"))
        if after is None:
            after = parse_resume_id(connection.query_params.get("last_id"))
    except BadResumeId as error:
        raise HTTPException(400, str(error)) from error
    return channel, after

"""The browser bridge under a real server (uvicorn on a free local port) with
real clients (httpx for SSE, ``websockets`` for WebSocket) and the harness's
PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.middleware import SessionsAuthBackend
from piccolo_api.session_auth.tables import SessionsBase
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.routing import Mount

from pgext.pubsub import Channel, Hub, Message, Overflow, SubscriberTooSlow
from pgext.pubsub.bridge import Bridge, authenticated
from pgext.pubsub.bridge_fanout import Client
from pgext.pubsub.bridge_wire import BadResumeId, message_frame, parse_resume_id
from tests.helpers import drop_tables, recreate_tables

from .conftest import Note

pytestmark = pytest.mark.postgres


class Tick(BaseModel):
    n: int
    ts: float = 0.0
    pad: str = ""


# -- a real server and real clients --


@dataclass
class Served:
    base: str
    ws_base: str
    server: uvicorn.Server
    task: asyncio.Task[None]


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[Served]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", server, task)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


def make_app(
    bridge: Bridge, on_shutdown: Callable[[], Awaitable[None]] | None = None
) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            await on_shutdown()
        await bridge.close()

    return Starlette(routes=[Mount("/live", routes=bridge.routes())], lifespan=lifespan)


@dataclass
class SSEEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None


@dataclass
class SSEReader:
    """A minimal EventSource: parses the stream of one httpx response."""

    response: httpx.Response
    comments: list[str] = field(default_factory=list)
    _lines: Any = None

    async def next(self, timeout: float = 5.0) -> SSEEvent:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SSEEvent:
        if self._lines is None:
            self._lines = self.response.aiter_lines()
        event = SSEEvent()
        seen = False
        async for line in self._lines:
            if line == "":
                if seen:
                    return event
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                event.data = value if not event.data else event.data + "\n" + value
                seen = True
            elif name == "event":
                event.event = value
                seen = True
            elif name == "id":
                event.id = value
                seen = True
        raise EOFError("stream ended")


@asynccontextmanager
async def sse(
    http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[SSEReader]:
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SSEReader(response)


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def ws_json(ws: Any, timeout: float = 5.0, skip_heartbeats: bool = True) -> Any:
    while True:
        data = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if not (skip_heartbeats and data["type"] == "heartbeat"):
            return data


# -- tests --


async def test_plain_events_reach_sse_and_websocket(hub: Hub) -> None:
    notes = Channel("bridge_plain", Note)
    bridge = Bridge(hub, [notes])
    async with (
        serve(make_app(bridge)) as srv,
        httpx.AsyncClient(timeout=10) as http,
        sse(http, f"{srv.base}/live/sse/bridge_plain") as reader,
        websockets.connect(f"{srv.ws_base}/live/ws/bridge_plain") as ws,
    ):
        await wait_for(lambda: bridge.stats()["clients"] == 2)
        for i in range(3):
            await hub.publish(notes, Note(n=i, text=f"é{i}\nline"))
        got_sse = [await reader.next() for _ in range(3)]
        got_ws = [await ws_json(ws) for _ in range(3)]
    assert [e.event for e in got_sse] == ["message"] * 3
    assert [e.id for e in got_sse] == [None] * 3  # plain: nothing to resume
    assert [json.loads(e.data) for e in got_sse] == [
        {"n": i, "text": f"é{i}\nline"} for i in range(3)
    ]
    assert got_ws == [
        {
            "type": "message",
            "channel": "bridge_plain",
            "id": None,
            "data": {"n": i, "text": f"é{i}\nline"},
        }
        for i in range(3)
    ]
    assert bridge.stats()["clients"] == 0


async def test_durable_sse_resumes_from_last_event_id(hub: Hub) -> None:
    notes = Channel("bridge_durable", Note, durable=True)
    bridge = Bridge(hub, [notes])
    url = "/live/sse/bridge_durable"
    async with serve(make_app(bridge)) as srv, httpx.AsyncClient(timeout=10) as http:
        async with sse(http, srv.base + url) as reader:
            await wait_for(lambda: bridge.stats()["clients"] == 1)
            for i in range(3):
                await hub.publish(notes, Note(n=i))
            first = [await reader.next() for _ in range(3)]
        assert [json.loads(e.data)["n"] for e in first] == [0, 1, 2]
        ids = [int(e.id or "") for e in first]
        assert ids == sorted(ids)
        last = first[-1].id or ""
        await wait_for(lambda: bridge.stats()["clients"] == 0)
        # Missed while away; the channel keeps streaming to nobody.
        for i in range(3, 8):
            await hub.publish(notes, Note(n=i))
        await hub.flush()
        async with sse(http, srv.base + url, {"Last-Event-ID": last}) as reader:
            await wait_for(lambda: bridge.stats()["clients"] == 1)
            missed = [await reader.next() for _ in range(5)]
            await hub.publish(notes, Note(n=8))
            live = await reader.next()
            # Nothing more: no duplicate of any replayed or live message.
            with pytest.raises(asyncio.TimeoutError):
                await reader.next(timeout=0.7)
    assert [json.loads(e.data)["n"] for e in missed] == [3, 4, 5, 6, 7]
    missed_ids = [int(e.id or "") for e in missed]
    assert missed_ids == sorted(missed_ids) and missed_ids[0] > int(last)
    assert json.loads(live.data)["n"] == 8 and int(live.id or "") > missed_ids[-1]
    assert bridge.stats()["replayed"] == 5


async def test_durable_resume_while_messages_keep_coming(hub: Hub) -> None:
    """Resume races live publishing: every message exactly once, in order."""
    notes = Channel("bridge_race", Note, durable=True)
    bridge = Bridge(hub, [notes])
    async with serve(make_app(bridge)) as srv:
        url = f"{srv.ws_base}/live/ws/bridge_race"
        async with websockets.connect(url) as ws:
            await wait_for(lambda: bridge.stats()["clients"] == 1)
            await hub.publish(notes, Note(n=0))
            start = (await ws_json(ws))["id"]
        for i in range(1, 40):
            await hub.publish(notes, Note(n=i))

        async def keep_publishing() -> None:
            for i in range(40, 80):
                await hub.publish(notes, Note(n=i))
                await asyncio.sleep(0.002)

        publisher = asyncio.get_running_loop().create_task(keep_publishing())
        async with websockets.connect(f"{url}?last_id={start}") as ws:
            got = [await ws_json(ws) for _ in range(79)]
            await publisher
            with pytest.raises(asyncio.TimeoutError):
                await ws_json(ws, timeout=0.7)
    assert [m["data"]["n"] for m in got] == list(range(1, 80))
    ids = [m["id"] for m in got]
    assert ids == sorted(set(ids))


async def test_refusals(hub: Hub) -> None:
    notes = Channel("bridge_guarded", Note)
    hidden = Channel("bridge_hidden", Note)

    def authorize(conn: HTTPConnection, channel: Channel[Any]) -> bool:
        token = conn.headers.get("x-token") or conn.query_params.get("token")
        if token is None:
            raise HTTPException(401, "log in first")
        return token == "good"

    durable = Channel("bridge_guarded_d", Note, durable=True)
    bridge = Bridge(hub, {"guarded": notes, "resumable": durable}, authorize=authorize)
    async with serve(make_app(bridge)) as srv, httpx.AsyncClient(timeout=10) as http:
        base = f"{srv.base}/live/sse"
        good = {"x-token": "good"}
        # Only the allow-list: not the channel's own name, not another one.
        for path in ("bridge_guarded", "bridge_hidden", hidden.name, "nope"):
            assert (await http.get(f"{base}/{path}", headers=good)).status_code == 404
        assert (await http.get(f"{base}/guarded")).status_code == 401
        assert (
            await http.get(f"{base}/guarded", headers={"x-token": "bad"})
        ).status_code == 403
        for bad in ("abc", "-1", "1.5", "12x", "99999999999999999999"):
            response = await http.get(
                f"{base}/resumable", headers={**good, "Last-Event-ID": bad}
            )
            assert response.status_code == 400, bad
            assert "not an event id" in response.text
        for bad in ("abc", "-1", " 12x", "\u0663", "1e3"):
            query = await http.get(
                f"{base}/resumable", params={"last_id": bad}, headers=good
            )
            assert query.status_code == 400, bad
        ws_base = f"{srv.ws_base}/live/ws"
        for path, status in (
            ("nope?token=good", 404),
            ("guarded", 401),
            ("guarded?token=bad", 403),
            ("resumable?token=good&last_id=x", 400),
        ):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(f"{ws_base}/{path}"):
                    pass
            assert refused.value.response.status_code == status, path
        # HEAD answers without joining the channel.
        head = await http.head(f"{base}/guarded", headers=good)
        assert head.status_code == 200
    assert bridge.stats()["connections"] == 0


def test_resume_id_parsing() -> None:
    assert parse_resume_id(None) is None
    assert parse_resume_id("") is None
    assert parse_resume_id(" 42 ") == 42
    assert parse_resume_id("0") == 0
    for bad in ("x", "-3", "+3", "3e2", "9223372036854775808", "\uff11\uff12"):
        with pytest.raises(BadResumeId):
            parse_resume_id(bad)


async def test_client_queue_overflow_policies() -> None:
    """The per-client queue: bounded, and the client learns what it lost."""
    client = Client("c", 2, Overflow.DROP_OLDEST)
    for i in range(5):
        client.offer(message_frame("c", Note(n=i), None))
    notice = await client.next()
    assert notice.kind == "gap"
    assert json.loads(notice.json_data) == {"reason": "overflow", "dropped": 3}
    rest = [await client.next() for _ in range(2)]
    assert [json.loads(f.json_data)["n"] for f in rest] == [3, 4]
    assert client.next_nowait() is None and client.dropped == 3

    slow = Client("c", 2, Overflow.DISCONNECT)
    for i in range(3):
        slow.offer(message_frame("c", Note(n=i), None))
    with pytest.raises(SubscriberTooSlow):
        await slow.next()

    def by_text(message: Any) -> str:
        return str(message.data.text)

    latest = Client("c", 10, Overflow.KEEP_LATEST, key=by_text)
    for i, text in enumerate("abab"):
        note = Note(n=i, text=text)
        latest.offer(message_frame("c", note, None, Message("c", note)))
    kept = [await latest.next() for _ in range(2)]
    assert [json.loads(f.json_data)["n"] for f in kept] == [2, 3]
    assert latest.dropped == 2


async def test_gap_event_after_listener_loss(hub: Hub, ps_engine: Any) -> None:
    notes = Channel("bridge_gap", Note)
    bridge = Bridge(hub, [notes])
    async with (
        serve(make_app(bridge)) as srv,
        httpx.AsyncClient(timeout=10) as http,
        sse(http, f"{srv.base}/live/sse/bridge_gap") as reader,
        websockets.connect(f"{srv.ws_base}/live/ws/bridge_gap") as ws,
    ):
        await wait_for(lambda: bridge.stats()["clients"] == 2)
        pid = hub.stats()["listener_pid"]
        async with ps_engine.connection() as conn:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        event = await reader.next(timeout=10)
        frame = await ws_json(ws, timeout=10)
        # Streams carry on after the gap.
        await wait_for(lambda: hub.stats()["connected"], 10)
        await hub.publish(notes, Note(n=1))
        after = await reader.next()
    assert event.event == "gap" and event.id is None
    gap = json.loads(event.data)
    assert gap["reason"] == "reconnect" and gap["until"] >= gap["since"]
    assert frame["type"] == "gap" and frame["data"]["reason"] == "reconnect"
    assert json.loads(after.data) == {"n": 1, "text": ""}


async def test_heartbeats_and_retry_hint(hub: Hub) -> None:
    notes = Channel("bridge_beat", Note)
    bridge = Bridge(hub, [notes], heartbeat=0.2, retry=1500)
    async with serve(make_app(bridge)) as srv, httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", f"{srv.base}/live/sse/bridge_beat") as response:
            lines: list[str] = []

            async def collect() -> None:
                async for line in response.aiter_lines():
                    lines.append(line)
                    if sum(1 for x in lines if x.startswith(":")) >= 2:
                        return

            await asyncio.wait_for(collect(), 5)
        assert "retry: 1500" in lines
        assert lines.count(": keep-alive") >= 2
        async with websockets.connect(f"{srv.ws_base}/live/ws/bridge_beat") as ws:
            beats = [await ws_json(ws, skip_heartbeats=False) for _ in range(2)]
        assert beats == [{"type": "heartbeat"}] * 2


STALLED_REQUESTS = {
    "sse": "GET /live/sse/bridge_slow HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "ws": (
        "GET /live/ws/bridge_slow HTTP/1.1\r\nHost: localhost\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ),
}


@pytest.mark.parametrize("stalled_protocol", ["sse", "ws"])
async def test_slow_client_does_not_delay_others(
    hub: Hub, stalled_protocol: str
) -> None:
    """One client never reads its socket; the others get every message."""
    ticks = Channel("bridge_slow", Tick)
    bridge = Bridge(hub, [ticks], queue_size=64, send_timeout=1.0, heartbeat=0)
    # Enough data to fill the stalled socket's kernel buffers (Linux grows
    # the sender's to 4 MB) so that the server really is blocked on it.
    pad = "x" * 6500
    count = 800
    async with serve(make_app(bridge)) as srv, httpx.AsyncClient(timeout=10) as http:
        # The stalled client: a real HTTP request on a socket with a tiny
        # receive buffer that is never read.
        loop = asyncio.get_running_loop()
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        host, port = srv.base.removeprefix("http://").split(":")
        await loop.sock_connect(stalled, (host, int(port)))
        await loop.sock_sendall(stalled, STALLED_REQUESTS[stalled_protocol].encode())
        await wait_for(lambda: bridge.stats()["clients"] == 1)
        latencies: list[float] = []

        async def reader(n_clients: int) -> list[int]:
            async with sse(http, f"{srv.base}/live/sse/bridge_slow") as events:
                seen = []
                while len(seen) < count:
                    event = await events.next(timeout=20)
                    if event.event != "message":
                        continue
                    tick = json.loads(event.data)
                    latencies.append(time.time() - tick["ts"])
                    seen.append(tick["n"])
                return seen

        readers = [loop.create_task(reader(i)) for i in range(3)]
        await wait_for(lambda: bridge.stats()["clients"] == 4)
        for i in range(count):
            await hub.publish(ticks, Tick(n=i, ts=time.time(), pad=pad))
            # Paced so that the healthy readers (same process) keep up.
            await asyncio.sleep(0.002)
        results = await asyncio.wait_for(asyncio.gather(*readers), 30)
        await wait_for(lambda: bridge.stats()["slow_disconnects"] >= 1, 10)
        stats = bridge.stats()
        stalled.close()
    for seen in results:
        assert seen == list(range(count))
    # The stalled client was skipped ahead and then cut off, not waited for.
    assert stats["dropped"] > 0
    assert stats["slow_disconnects"] >= 1
    print(
        f"others' latency with one stalled client: p50 "
        f"{statistics.median(latencies) * 1000:.1f} ms, max "
        f"{max(latencies) * 1000:.1f} ms, stats {stats}"
    )


async def test_bridge_close_ends_streams(hub: Hub) -> None:
    notes = Channel("bridge_close", Note)
    bridge = Bridge(hub, [notes])
    async with serve(make_app(bridge)) as srv, httpx.AsyncClient(timeout=10) as http:
        async with (
            sse(http, f"{srv.base}/live/sse/bridge_close") as reader,
            websockets.connect(f"{srv.ws_base}/live/ws/bridge_close") as ws,
        ):
            await wait_for(lambda: bridge.stats()["clients"] == 2)
            await bridge.close(timeout=5)
            with pytest.raises(EOFError):
                await reader.next()
            with pytest.raises(websockets.exceptions.ConnectionClosedOK):
                await ws_json(ws)
            assert ws.close_code == 1001
        assert bridge.stats()["clients"] == 0
        assert bridge.stats()["channels"] == {}
        refused = await http.get(f"{srv.base}/live/sse/bridge_close")
        assert refused.status_code == 503


async def test_hub_close_and_server_shutdown_end_streams(ps_engine: Any) -> None:
    """Server shutdown with open streams: the hub is closed in the lifespan,
    every stream ends and uvicorn finishes without waiting for clients."""
    notes = Channel("bridge_shutdown", Note)
    hub = Hub(ps_engine, check_interval=0.5)
    bridge = Bridge(hub, [notes])
    app = make_app(bridge, on_shutdown=hub.close)
    ended: list[str] = []
    async with serve(app) as srv, httpx.AsyncClient(timeout=10) as http:

        async def sse_client() -> None:
            async with sse(http, f"{srv.base}/live/sse/bridge_shutdown") as reader:
                with pytest.raises(EOFError):
                    await reader.next(timeout=30)
            ended.append("sse")

        async def ws_client() -> None:
            async with websockets.connect(
                f"{srv.ws_base}/live/ws/bridge_shutdown"
            ) as ws:
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    await ws_json(ws, timeout=30)
            ended.append("ws")

        clients = [
            asyncio.get_running_loop().create_task(c())
            for c in (sse_client, sse_client, ws_client)
        ]
        await wait_for(lambda: bridge.stats()["clients"] == 3)
        started = time.monotonic()
        srv.server.should_exit = True
        await asyncio.wait_for(srv.task, 15)
        await asyncio.wait_for(asyncio.gather(*clients), 5)
        took = time.monotonic() - started
    assert sorted(ended) == ["sse", "sse", "ws"]
    assert bridge.stats()["clients"] == 0
    leftovers = [
        t for t in asyncio.all_tasks() if t.get_name().startswith("pgext-bridge")
    ]
    assert leftovers == []
    print(f"shutdown with 3 open streams took {took:.2f} s")


class BridgeUser(BaseUser, tablename="pgext_bridge_user"):
    pass


class BridgeSession(SessionsBase, tablename="pgext_bridge_session"):
    pass


async def test_piccolo_session_auth(hub: Hub, ps_engine: Any) -> None:
    """``authenticated`` with piccolo_api's session backend, plus a hook that
    keeps one channel for admins."""
    await recreate_tables(ps_engine, BridgeUser, BridgeSession)
    alice = await BridgeUser.create_user(
        "alice", "a-long-passw0rd", active=True, email="alice@example.org"
    )
    boss = await BridgeUser.create_user(
        "boss", "a-long-passw0rd", active=True, admin=True, email="boss@example.org"
    )
    alice_token = (await BridgeSession.create_session(alice.id)).token
    boss_token = (await BridgeSession.create_session(boss.id)).token
    news = Channel("bridge_news", Note)
    ops = Channel("bridge_ops", Note)

    def authorize(conn: HTTPConnection, channel: Channel[Any]) -> bool:
        authenticated(conn, channel)  # 401 without a valid session
        return channel is not ops or bool(conn.user.user.admin)

    bridge = Bridge(hub, [news, ops], authorize=authorize)
    backend = SessionsAuthBackend(
        auth_table=BridgeUser,
        session_table=BridgeSession,
        admin_only=False,
        allow_unauthenticated=True,
    )
    app = make_app(bridge)
    app.add_middleware(AuthenticationMiddleware, backend=backend)
    async with serve(app) as srv, httpx.AsyncClient(timeout=10) as http:
        news_url = f"{srv.base}/live/sse/bridge_news"
        assert (await http.get(news_url)).status_code == 401
        forged = await http.get(news_url, headers={"Cookie": "id=not-a-session"})
        assert forged.status_code == 401
        ops_url = f"{srv.base}/live/sse/bridge_ops"
        denied = await http.get(ops_url, headers={"Cookie": f"id={alice_token}"})
        assert denied.status_code == 403
        async with sse(http, ops_url, {"Cookie": f"id={boss_token}"}) as reader:
            await wait_for(lambda: bridge.stats()["clients"] == 1)
            await hub.publish(ops, Note(n=7, text="deploy"))
            event = await reader.next()
        assert json.loads(event.data) == {"n": 7, "text": "deploy"}
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(
                f"{srv.ws_base}/live/ws/bridge_ops",
                additional_headers={"Cookie": f"id={alice_token}"},
            ):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(
            f"{srv.ws_base}/live/ws/bridge_news",
            additional_headers={"Cookie": f"id={alice_token}"},
        ) as ws:
            await wait_for(lambda: bridge.stats()["clients"] == 1)
            await hub.publish(news, Note(n=1))
            assert (await ws_json(ws))["data"] == {"n": 1, "text": ""}
    await drop_tables(BridgeSession, BridgeUser)


async def test_slow_durable_client_is_cut_and_resumes_without_loss(
    hub: Hub, ps_engine: Any
) -> None:
    """DISCONNECT (the durable default): a client whose queue overflows is
    cut off; reconnecting with its last id replays what it missed."""
    notes = Channel("bridge_cut", Note, durable=True)
    bridge = Bridge(hub, [notes], queue_size=4)
    url = "/live/sse/bridge_cut"
    received: list[tuple[int, int]] = []
    async with serve(make_app(bridge)) as srv, httpx.AsyncClient(timeout=10) as http:
        async with sse(http, srv.base + url) as reader:
            await wait_for(lambda: bridge.stats()["clients"] == 1)
            await hub.publish(notes, Note(n=0))
            first = await reader.next()
            received.append((int(first.id or ""), json.loads(first.data)["n"]))
            # One commit of 20 messages: the pump offers them all at once,
            # more than the client's queue holds.
            async with ps_engine.transaction():
                for i in range(1, 21):
                    await hub.publish(notes, Note(n=i))
            with pytest.raises(httpx.RemoteProtocolError):
                while True:
                    event = await reader.next()
                    received.append((int(event.id or ""), json.loads(event.data)["n"]))
        assert bridge.stats()["slow_disconnects"] == 1
        last = str(received[-1][0])
        async with sse(http, srv.base + url, {"Last-Event-ID": last}) as reader:
            while received[-1][1] < 20:
                event = await reader.next()
                received.append((int(event.id or ""), json.loads(event.data)["n"]))
    assert [n for _, n in received] == list(range(21))
    ids = [i for i, _ in received]
    assert ids == sorted(set(ids))


async def test_resume_after_pruning_and_on_plain_channels(hub: Hub) -> None:
    """A resume older than what the outbox keeps starts with a ``pruned``
    gap; a resume id on a plain channel gets ``not-resumable``."""
    durable = Channel("bridge_pruned", Note, durable=True)
    plain = Channel("bridge_unresumable", Note)
    bridge = Bridge(hub, [durable, plain])
    async with serve(make_app(bridge)) as srv, httpx.AsyncClient(timeout=10) as http:
        async with sse(http, f"{srv.base}/live/sse/bridge_pruned") as reader:
            await wait_for(lambda: bridge.stats()["clients"] == 1)
            await hub.publish(durable, Note(n=1))
            old = (await reader.next()).id or ""
            await hub.publish(durable, Note(n=2))
            await reader.next()
        await hub.flush()
        await hub.prune(datetime.timedelta(0))
        await hub.publish(durable, Note(n=3))
        await hub.flush()
        headers = {"Last-Event-ID": old}
        async with sse(http, f"{srv.base}/live/sse/bridge_pruned", headers) as reader:
            gap = await reader.next()
            after = await reader.next()
        assert gap.event == "gap"
        assert json.loads(gap.data)["reason"] == "pruned"
        assert json.loads(after.data)["n"] == 3
        headers = {"Last-Event-ID": "5"}
        async with sse(http, f"{srv.base}/live/sse/bridge_unresumable", headers) as rd:
            notice = await rd.next()
        assert notice.event == "gap"
        assert json.loads(notice.data) == {"reason": "not-resumable", "after": 5}

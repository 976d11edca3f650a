"""Socket Mode on the stand-in: the app connects over a WebSocket, and tests deliver
envelopes to it and read its acknowledgements."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp
from aiohttp import web

from bot.devtools.slack_standin.records import Handler, Params
from bot.devtools.slack_standin.workspace import Workspace


class SocketMode:
    """The app's open Socket Mode connections, and the envelopes awaiting their ack."""

    def __init__(self, workspace: Workspace, base_url: Callable[[], str]) -> None:
        self._workspace = workspace
        self._base_url = base_url
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[Params]] = {}

    def handlers(self) -> dict[str, Handler]:
        return {"apps.connections.open": self.connections_open}

    def connections_open(self, params: Params) -> Params:
        return {"url": self._base_url().replace("http://", "ws://") + "/socket"}

    async def handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: say hello, then collect the app's acknowledgements."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": len(self._sockets)})
        try:
            async for message in socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._take_ack(json.loads(message.data))
        finally:
            self._sockets.remove(socket)
        return socket

    def _take_ack(self, ack: Params) -> None:
        waiter = self._acks.pop(str(ack.get("envelope_id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(ack)

    async def wait_for_socket(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Until an app has connected over Socket Mode."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._sockets:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("no Socket Mode connection")
            await asyncio.sleep(0.02)

    async def send_envelope(
        self,
        kind: str,
        payload: Params,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Params:
        """Deliver an envelope (e.g. "slash_commands") and return the app's ack."""
        await self.wait_for_socket(timeout)
        envelope_id = f"env-{self._workspace.next_seq()}"
        waiter: asyncio.Future[Params] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
            }
        )
        return await asyncio.wait_for(waiter, timeout)

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()

"""The direct frame path (``realtime.frames``) writes what websockets itself would, or declines."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from backend.realtime.frames import DirectFrameProtocol, text_frame
from backend.runtime import Runtime
from tests.api import SCHOOL_REGISTRAR
from tests.realtime.test_live_frames import _notify
from tests.realtime.test_live_todo import NOTIFICATIONS, login, subscribe
from tests.realtime.test_websocket import live_runtime, live_url  # noqa: F401 - the fixtures


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
def test_a_text_frame_is_byte_for_byte_what_websockets_builds(length: int) -> None:
    payload = ("数" * length).encode()[:length] if length else b""
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected


async def test_live_events_take_the_direct_path_when_the_socket_is_open(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written: list[bytes] = []
    write_text = DirectFrameProtocol.write_text

    def counting(self: DirectFrameProtocol, payload: bytes) -> bool:
        done = write_text(self, payload)
        if done:
            written.append(payload)
        return done

    monkeypatch.setattr(DirectFrameProtocol, "write_text", counting)
    token = await login(live_url, SCHOOL_REGISTRAR)
    async with await subscribe(live_url, token, NOTIFICATIONS, {"after": 0}) as ws:
        for _ in range(500):
            if live_runtime.feed.subscriptions:
                break
            await asyncio.sleep(0.01)
        await _notify(live_runtime, SCHOOL_REGISTRAR, 1)
        received = await asyncio.wait_for(ws.recv(), 10)

    assert isinstance(received, str)  # a text frame, as graphql-transport-ws requires
    assert [orjson.loads(frame) for frame in written] == [orjson.loads(received)]


def test_the_direct_path_declines_a_socket_that_pushes_back() -> None:
    protocol = DirectFrameProtocol.__new__(DirectFrameProtocol)
    protocol.conn = ServerProtocol()
    protocol.conn.state = State.OPEN
    protocol.writable = asyncio.Event()  # cleared: the transport's buffer is above its high-water mark
    assert protocol.write_text(b"{}") is False

"""uvicorn's websocket protocol with a direct path for the frames of live subscriptions.

An event addressed to ten thousand subscribers is ten thousand sends. Through ASGI each one is a message
dict passed down Starlette's ``WebSocket.send``, uvicorn's ``send`` (an awaited ``writable`` check, a
dispatch on the message type) and websockets' frame builder before it reaches the transport: about half
of the server's time per delivery. The frame itself is a two- or four-byte header in front of the JSON
(server frames are not masked), so this protocol offers, through the ASGI scope's ``extensions`` (where a
server announces what it can do beyond the spec), a ``write_text`` that puts the finished frame on the
transport at once — when the socket is open and not pushing back. Otherwise it declines and the caller
sends the ordinary way, which waits for the socket or reports it gone.

Frames written here are whole uncompressed text messages, valid with or without permessage-deflate (the
extension compresses only messages that set RSV1), and websockets' state machine does not track outgoing
data frames, so the two paths interleave freely.
"""

from __future__ import annotations

import struct

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

EXTENSION = "xueji.frames"

_TEXT = 0x81  # FIN + opcode 1


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame carrying ``payload`` (RFC 6455 §5.2)."""
    length = len(payload)
    if length < 126:
        return bytes((_TEXT, length)) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", _TEXT, 126, length) + payload
    return struct.pack("!BBQ", _TEXT, 127, length) + payload


class DirectFrameProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` that offers itself to the app as the ``xueji.frames`` extension."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # only an accepted upgrade gets a scope and an app task
        if scope is not None:
            scope["extensions"][EXTENSION] = self

    def write_text(self, payload: bytes) -> bool:
        """Write one text message now if the socket is open and its buffer below the high-water mark."""
        if self.conn.state is not State.OPEN or not self.writable.is_set() or self.transport.is_closing():
            return False
        self.transport.write(text_frame(payload))
        return True

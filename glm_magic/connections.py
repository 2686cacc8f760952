"""The HTTP client the openai SDK is given: one whose connections outlive a stream.

The SDK stops reading a stream at ``data: [DONE]`` and closes the response
before the end of the body (the chunked encoding's last, empty chunk), and an
HTTP/1.1 connection whose body was not read to its end cannot carry another
request: every cell, and every item of a batch, would pay a new TCP and TLS
handshake. The transport here reads those last bytes when the response is
closed after ``[DONE]``, so the connection goes back to the pool (a server
that never sends them costs half a second, then the connection is dropped). A
response closed before ``[DONE]`` (an interrupt) is closed at once, as before,
and the server sees the connection go.

Imported by :mod:`glm_magic.client` on the first request, never at
``%load_ext``: it imports ``openai``.
"""

from __future__ import annotations

import importlib
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import openai

# httpx, or httpx2 for newer SDKs: the library whose Limits the SDK uses.
httpx: Any = importlib.import_module(
    type(openai.DEFAULT_CONNECTION_LIMITS).__module__.split(".")[0]
)

# The last event of a stream, as a line of its own: a JSON string cannot hold a
# raw newline, so an answer that quotes "data: [DONE]" never matches.
DONE_LINES = (b"\ndata: [DONE]", b"\ndata:[DONE]")
TAIL_BYTES = 64
#: How long the rest of a body may take after ``[DONE]``: it normally follows at once.
FINISH_SECONDS = 0.5


def http_client(max_connections: int | None = None) -> Any:
    """The SDK's default client, over a transport that finishes streamed bodies."""
    limits = openai.DEFAULT_CONNECTION_LIMITS
    if max_connections is not None:
        limits = type(limits)(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
    return openai.DefaultHttpxClient(
        transport=FinishingTransport(httpx.HTTPTransport(limits=limits))
    )


class FinishingTransport(httpx.BaseTransport):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        headers = response.headers
        framed = "chunked" in headers.get("transfer-encoding", "").lower() or (
            "content-length" in headers
        )
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if framed and sock is not None and "event-stream" in headers.get("content-type", ""):
            response.stream = FinishingStream(response.stream, sock)
        return response

    def close(self) -> None:
        self.inner.close()


class FinishingStream(httpx.SyncByteStream):
    """An event stream that, closed right after ``[DONE]``, first reads what is left.

    Only framed bodies (chunked, or with a length) are wrapped: their end
    arrives right after ``[DONE]``. A body that ends only when the server
    closes the connection would make the read wait for that.
    """

    def __init__(self, stream: Any, sock: socket.socket) -> None:
        self.stream = stream
        self.socket = sock
        self.chunks: Iterator[bytes] | None = None
        self.tail = b""

    def __iter__(self) -> Iterator[bytes]:
        self.chunks = iter(self.stream)
        for chunk in self.chunks:
            self.tail = (self.tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
            yield chunk

    def close(self) -> None:
        """A body that breaks while being finished only costs its connection: the
        reply had already arrived whole. A server that never ends the body gets
        its socket shut after :data:`FINISH_SECONDS`, so the wait is bounded."""
        try:
            if self.chunks is not None and self.tail.rstrip().endswith(DONE_LINES):
                guard = threading.Timer(FINISH_SECONDS, _hang_up, (self.socket,))
                guard.daemon = True
                guard.start()
                try:
                    with suppress(httpx.TransportError):
                        for _ in self.chunks:
                            pass
                finally:
                    guard.cancel()
        finally:
            self.stream.close()


def _hang_up(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)

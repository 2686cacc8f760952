"""A real local HTTP server that answers like a GLM provider (DashScope by default).

Why a real server and not mocks: the package under test talks to the provider
through the official ``openai`` SDK, and the interesting failures (streams cut
mid-way, keep-alive reuse, clients that hang up, errors inside a 200 stream,
concurrency limits) only happen on real sockets. ``FakeDashScope`` serves
``POST /compatible-mode/v1/chat/completions`` on 127.0.0.1 with the provider's
status codes, error bodies and chunk shapes, and records what it received.
``FakeProvider(dialect="zhipu")`` (likewise ``zai``, ``openrouter``,
``vllm``) speaks another provider's dialect instead: its paths, its own
thinking switch only, its reasoning field, its error bodies and its model
list (see :mod:`glm_magic.testing.dialects`). Every dialect also answers
``GET .../models``.

Replies and faults are queued and consumed first in, first out, one per chat
request that passes the automatic checks (API key, body, model, ``stream``,
sampling ranges). With an empty queue the server answers a deterministic reply
derived from the request (see :func:`default_reply`).

How the ``drop`` fault surfaces in the ``openai`` SDK: the body is sent with
chunked transfer encoding, so closing the socket before the terminating chunk
is a protocol error for the client, not a normal end of body. The SDK's stream
iterator yields the chunks that arrived and then raises
``openai.APIConnectionError`` ("Connection error.", caused by the transport's
``RemoteProtocolError``: incomplete chunked read). No ``finish_reason``, no
usage chunk, no ``[DONE]``. ``drop_before_first`` makes ``create()`` itself
raise ``openai.APIConnectionError`` (server disconnected without a response).

The provider facts behind every shape and message (which were confirmed
against public sources and which are assumed) are listed in
:mod:`glm_magic.testing.wire`.
"""

from __future__ import annotations

import json
import math
import select
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import KW_ONLY, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import dialects, wire
from .dialects import Dialect

CHAT_PATH = "/compatible-mode/v1/chat/completions"
DEFAULT_API_KEY = "sk-glm-magic-test"
DEFAULT_MODELS = frozenset(wire.MAX_ANSWER_TOKENS)

#: Fault kinds answered with an HTTP error status and a JSON body.
HTTP_FAULTS = frozenset(
    {
        "invalid_api_key",
        "stream_required",
        "invalid_parameter",
        "data_inspection_failed",
        "free_tier_only",
        "model_not_found",
        "rate_limit",
        "server_error",
    }
)
#: Fault kinds that start a 200 stream (or none at all) and then go wrong.
STREAM_FAULTS = frozenset({"stream_error", "drop", "drop_before_first", "no_finish"})
FAULT_KINDS = HTTP_FAULTS | STREAM_FAULTS


@dataclass
class Reply:
    """One scripted answer: thinking, answer and/or tool calls, streamed in small chunks.

    Each tool call is ``{"name": ..., "arguments": dict or JSON text}``, with
    an optional ``"id"`` and ``"index"`` (the wire index; default its position:
    ``"index": 0`` on every call imitates servers that send parallel calls all
    at index 0). ``chunk_chars`` sets how much text goes in each SSE chunk
    (about one token per four characters). ``usage=None`` computes usage from the text; a dict
    is sent as given. ``model=None`` echoes the request's model.
    """

    thinking: str = ""
    answer: str = ""
    finish_reason: str = "stop"
    chunk_chars: int = 4
    delay: float = 0.0
    first_delay: float = 0.0
    usage: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    model: str | None = None


@dataclass
class Fault:
    """One scripted failure, consumed from the same queue as replies.

    ``after_chunks`` counts content chunks (thinking, answer or tool-call
    fragments; the initial role chunk is not counted) sent before a
    ``stream_error`` or ``drop``. ``reply`` provides those chunks (default: the
    request's default reply). ``retry_after`` adds a ``Retry-After`` header;
    ``message`` replaces the provider's error message.
    """

    kind: str
    _: KW_ONLY
    after_chunks: int = 0
    retry_after: float | None = None
    message: str | None = None
    reply: Reply | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {sorted(FAULT_KINDS)}")


@dataclass
class Canned:
    """A response written exactly as given: for replaying a provider's captured bytes.

    ``body`` is sent as is (an SSE stream ends with its own ``data: [DONE]``),
    with ``status`` and ``content_type``. Consumed from the same queue as
    replies and faults, after the automatic checks (key, model, body).
    """

    body: bytes
    status: int = 200
    content_type: str = "text/event-stream;charset=UTF-8"


@dataclass
class RecordedRequest:
    """What the server received, for assertions: parsed JSON body and lower-cased headers."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    time: float
    method: str = "POST"
    request_id: str = ""
    raw: bytes = field(default=b"", repr=False)


class _ClientGone(Exception):
    """The client closed its connection (or the server is stopping) mid-response."""


def default_reply(body: dict[str, Any]) -> Reply:
    """The deterministic reply for a request when nothing is queued.

    See :func:`glm_magic.testing.wire.default_texts` for the text: it quotes
    the last user message and counts the messages, or is a small JSON object
    when the request asks for JSON. A request that offers ``tools`` gets one
    call (see :func:`glm_magic.testing.wire.default_tool_call`) and, once the
    tool results come back, an answer quoting them: notebooks that use
    ``--tools`` run offline too.
    """
    thinking, answer = wire.default_texts(body)
    call = wire.default_tool_call(body)
    return Reply(thinking=thinking, answer=answer, tool_calls=[call] if call else None)


class _HTTPServer(ThreadingHTTPServer):
    """The socket server: one thread per connection, tracked so ``stop()`` can end them."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog of 5 drops the SYNs of a burst of new
    # connections (the openai SDK opens one per stream) and the client only retries
    # them a second later; a provider's front end accepts far more.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: FakeProvider) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"FakeDashScope-{self.server_address[1]}-conn-{client_address[1]}",
            daemon=True,
        )
        self.owner._connection_opened(request, thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        finally:
            self.owner._connection_closed(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is normal for this server; only real bugs are printed.
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, _ClientGone)):
            return
        print("FakeDashScope: error while answering a request:", file=sys.stderr)
        traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests (HTTP/1.1 keep-alive: several in a row)."""

    protocol_version = "HTTP/1.1"
    # Each SSE chunk leaves at once (no Nagle delay), as a streaming client expects.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: test output should not fill with access logs."""

    def version_string(self) -> str:
        return "FakeDashScope/1.0"

    # -- reading ---------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length)) if length.strip().isdigit() else b""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    # -- writing ---------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError as exc:
            raise _ClientGone from exc

    def _pause(self, seconds: float) -> None:
        """Sleep, but notice at once if the client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], remaining)
            if not readable:
                continue
            try:
                peeked = self.connection.recv(1, socket.MSG_PEEK)
            except OSError as exc:
                raise _ClientGone from exc
            if not peeked:
                raise _ClientGone
            # The client already sent its next request: keep waiting without polling.
            if self.server.owner._stopping.wait(max(0.0, deadline - time.monotonic())):
                raise _ClientGone
            return

    def _send_json_error(
        self,
        kind: str,
        request_id: str,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        status, body = self.server.owner.dialect.error(kind, request_id, message)
        payload = wire.encode(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-request-id", request_id)
            if retry_after is not None:
                self.send_header("Retry-After", f"{retry_after:g}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
        except OSError as exc:
            raise _ClientGone from exc
        self._write(payload)

    def _start_stream(self, request_id: str) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream;charset=UTF-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("x-request-id", request_id)
            self.end_headers()
        except OSError as exc:
            raise _ClientGone from exc

    def _event(self, data: dict[str, Any] | str) -> None:
        self._write(wire.http_chunk(wire.sse_event(data)))
        owner = self.server.owner
        if owner.record_sends:
            owner._sent(data)

    def _hang_up(self) -> None:
        """Close the TCP connection now, mid-message if need be."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- dispatch --------------------------------------------------------------

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        request_id = wire.new_request_id()
        raw = self._read_body()
        try:
            parsed = json.loads(raw) if raw else {}
        except (ValueError, UnicodeDecodeError):
            parsed = None
        path = urlsplit(self.path).path
        owner._record(
            RecordedRequest(
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=parsed if isinstance(parsed, dict) else {},
                time=time.time(),
                method=method,
                request_id=request_id,
                raw=raw,
            )
        )
        base = owner.dialect.path
        is_chat = path.rstrip("/") == f"{base}/chat/completions"
        try:
            with owner._answering(counted=is_chat and method == "POST"):
                self._pause(owner.default_latency)
                if path.rstrip("/") == f"{base}/models" and method == "GET":
                    self._models(request_id)
                elif not is_chat:
                    self._send_json_error("bad_path", request_id)
                elif method != "POST":
                    message = wire.ERRORS["bad_method"].message.format(method)
                    self._send_json_error("bad_method", request_id, message=message)
                else:
                    self._chat(parsed, request_id)
        except _ClientGone:
            self.close_connection = True
            if is_chat and not owner._stopping.is_set():
                owner._client_disconnected()

    # -- the endpoints -----------------------------------------------------------

    def _send_canned(self, canned: Canned, request_id: str) -> None:
        try:
            self.send_response(canned.status)
            self.send_header("Content-Type", canned.content_type)
            self.send_header("Content-Length", str(len(canned.body)))
            self.send_header("x-request-id", request_id)
            self.end_headers()
        except OSError as exc:
            raise _ClientGone from exc
        self._write(canned.body)

    def _models(self, request_id: str) -> None:
        """``GET /models``: the served models in the OpenAI list shape (key checked)."""
        owner = self.server.owner
        if self.headers.get("Authorization") != f"Bearer {owner.api_key}":
            self._send_json_error("invalid_api_key", request_id)
            return
        listed = {
            "object": "list",
            "data": [
                {"id": model, "object": "model", "created": 0, "owned_by": owner.dialect.name}
                for model in sorted(owner.models, reverse=True)
            ],
        }
        payload = wire.encode(listed).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
        except OSError as exc:
            raise _ClientGone from exc
        self._write(payload)

    def _chat(self, body: Any, request_id: str) -> None:
        owner = self.server.owner
        refusal = owner._check(self.headers.get("Authorization"), body)
        if refusal is not None:
            kind, message = refusal
            self._send_json_error(kind, request_id, message=message)
            return
        limits = owner.limits
        if limits is not None:
            refusal_kind = limits.admit(wire.prompt_tokens(body))
            if refusal_kind is not None:
                owner._count_rate_limited()
                headers = limits.headers() if owner.rate_limit_headers else None
                self._send_json_error(refusal_kind, request_id, headers=headers)
                return
        item = owner._next_item()
        if isinstance(item, Canned):
            self._send_canned(item, request_id)
            return
        fault = item if isinstance(item, Fault) else None
        if fault is not None and fault.kind in HTTP_FAULTS:
            self._send_json_error(
                fault.kind, request_id, message=fault.message, retry_after=fault.retry_after
            )
            return
        if fault is not None and fault.kind == "drop_before_first":
            self._hang_up()
            return
        reply = item if isinstance(item, Reply) else None
        if reply is None:
            reply = fault.reply if fault is not None and fault.reply else default_reply(body)
        self._stream(body, reply, fault, request_id)

    def _stream(self, body: dict[str, Any], reply: Reply, fault: Fault | None, rid: str) -> None:
        dialect = self.server.owner.dialect
        thinking_mode = dialect.thinking(body)
        model = reply.model or str(body.get("model"))
        maker = wire.ChunkMaker(
            model,
            int(time.time()),
            thinking=thinking_mode,
            reasoning_field=self.server.owner.reasoning_field,
        )
        # Like the provider, thinking off means no reasoning at all, even if scripted.
        thinking = reply.thinking if thinking_mode else ""
        content, arguments = wire.content_chunks(
            maker,
            thinking=thinking,
            answer=reply.answer,
            tool_calls=reply.tool_calls,
            chunk_chars=reply.chunk_chars,
        )
        kind = fault.kind if fault is not None else None
        if fault is not None and kind in ("stream_error", "drop"):
            content = content[: max(0, fault.after_chunks)]
        if dialect.lead_newline and thinking:
            content.insert(0, maker.content("\n"))
        tail: list[dict[str, Any]] = []
        if kind is None:
            finish_reason = reply.finish_reason
            if reply.tool_calls and finish_reason == "stop":
                finish_reason = "tool_calls"
            tail.append(maker.finish(finish_reason))
            options = body.get("stream_options")
            if isinstance(options, dict) and options.get("include_usage") is True:
                usage = reply.usage
                if usage is None:
                    output = wire.estimate_tokens(reply.answer) + wire.estimate_tokens(arguments)
                    reasoning = wire.estimate_tokens(thinking)
                    usage = wire.usage_dict(wire.prompt_tokens(body), reasoning, output)
                tail.append(maker.usage(usage))
            limits = self.server.owner.limits
            if limits is not None:
                output = wire.estimate_tokens(reply.answer) + wire.estimate_tokens(arguments)
                limits.spend(output + wire.estimate_tokens(thinking))

        self._start_stream(rid)
        self._pause(reply.first_delay)
        self._event(maker.role())
        for chunk in [*content, *tail]:
            self._pause(reply.delay)
            self._event(chunk)
        self._pause(reply.delay)
        if fault is not None and kind == "drop":
            self._hang_up()
        elif fault is not None and kind == "stream_error":
            error = dialect.stream_error(fault.message)
            self._write(wire.http_chunk(wire.sse_event(error)) + wire.LAST_HTTP_CHUNK)
        else:
            # [DONE] and the end of the chunked body leave in one write. (The openai
            # SDK still stops reading at [DONE] and closes the connection.)
            self._write(wire.http_chunk(wire.DONE_EVENT) + wire.LAST_HTTP_CHUNK)


def _closed_by_peer(sockets: list[Any]) -> int:
    """How many of ``sockets`` the client has closed (at end of stream, reset, or
    already closed here).

    Each socket is peeked without waiting, one by one, so a handler thread that
    reads or closes one of them meanwhile changes only that socket's answer;
    where a peek cannot be made non-blocking, nothing is left out.
    """
    dontwait = getattr(socket, "MSG_DONTWAIT", 0)
    if not dontwait:
        return 0
    closed = 0
    for sock in sockets:
        try:
            closed += sock.recv(1, socket.MSG_PEEK | dontwait) == b""
        except BlockingIOError:
            continue
        except OSError:
            closed += 1
    return closed


class RateLimits:
    """An account's requests and tokens per minute, enforced like Model Studio enforces them.

    Model Studio counts per minute and also per second, RPM/60 and TPM/60, so
    a burst inside one second is refused even when the minute's total is fine
    (https://help.aliyun.com/en/model-studio/rate-limit, 2026-12-01). Here:
    a bucket of RPM/60 requests (at least one) refilled at RPM/60 a second,
    plus at most RPM requests in any 60 seconds; and a bucket of TPM/60 tokens
    refilled at TPM/60 a second, from which each request takes its prompt
    tokens when it arrives and its output tokens when its reply is written. A
    request is refused (429) while its bucket holds less than one request or
    no tokens; a refused request costs nothing.
    """

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.requests = max(1.0, rpm / 60) if rpm else 0.0
        self.tokens = tpm / 60 if tpm else 0.0
        self.accepted: deque[float] = deque()
        self.last = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed, self.last = now - self.last, now
        if self.rpm:
            self.requests = min(max(1.0, self.rpm / 60), self.requests + elapsed * self.rpm / 60)
        if self.tpm:
            self.tokens = min(self.tpm / 60, self.tokens + elapsed * self.tpm / 60)
        while self.accepted and self.accepted[0] <= now - 60:
            self.accepted.popleft()

    def admit(self, prompt_tokens: int) -> str | None:
        """Take one request of ``prompt_tokens``; the error kind when it must be refused."""
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            if self.rpm and (self.requests < 1.0 or len(self.accepted) >= self.rpm):
                return "rpm_exceeded"
            if self.tpm and self.tokens <= 0:
                return "tpm_exceeded"
            if self.rpm:
                self.requests -= 1.0
                self.accepted.append(now)
            self.tokens -= prompt_tokens
            return None

    def spend(self, tokens: int) -> None:
        """A reply of ``tokens`` output tokens was written."""
        with self._lock:
            self._refill(time.monotonic())
            self.tokens -= tokens

    def headers(self) -> dict[str, str]:
        """OpenRouter's 429 headers (limit, remaining, reset in epoch ms) and Retry-After."""
        with self._lock:
            if self.rpm:
                wait = max(0.0, 1.0 - self.requests) / (self.rpm / 60)
                limit, left = self.rpm, int(self.requests)
            else:
                wait = max(0.0, -self.tokens) / (self.tpm / 60) if self.tpm else 0.0
                limit, left = self.tpm or 0, max(0, int(self.tokens))
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(left),
            "X-RateLimit-Reset": str(int((time.time() + wait) * 1000)),
            "Retry-After": str(max(1, math.ceil(wait))),
        }


class FakeProvider:
    """A threaded fake of a GLM provider's chat endpoint on a free local port.

    ``dialect`` picks the provider it plays (default ``"dashscope"``; see
    :mod:`glm_magic.testing.dialects`); ``models`` defaults to that
    provider's GLM models. Use as a context manager (or call :meth:`start` /
    :meth:`stop`); point the ``openai`` SDK at :attr:`base_url` with
    :attr:`api_key`. Queue :class:`Reply`, :class:`Fault` and :class:`Canned`
    objects with :meth:`queue`; inspect
    :attr:`requests` and the connection counters afterwards.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = DEFAULT_API_KEY,
        models: Iterable[str] | None = None,
        default_latency: float = 0.0,
        reasoning_field: str | None = None,
        record_sends: bool = False,
        rpm: int | None = None,
        tpm: int | None = None,
        rate_limit_headers: bool = False,
        dialect: str = "dashscope",
    ) -> None:
        self.host = host
        self.api_key = api_key
        #: The provider this server plays.
        self.dialect: Dialect = dialects.get(dialect)
        self.models = frozenset(self.dialect.models if models is None else models)
        self._initial_models = self.models
        reasoning_field = reasoning_field or self.dialect.reasoning_field
        #: Seconds to wait before the first byte of every response (e.g. batch benchmarks).
        self.default_latency = default_latency
        self._initial_latency = default_latency
        #: The delta key that carries the thinking: the dialect's (``reasoning_content``
        #: on DashScope); set ``"reasoning"`` to imitate vLLM-style servers.
        self.reasoning_field = reasoning_field
        self._initial_reasoning_field = reasoning_field
        #: Keep ``(time.time(), chunk)`` for every SSE chunk written (see :attr:`sends`).
        self.record_sends = record_sends
        self._initial_record_sends = record_sends
        self._sends: list[tuple[float, dict[str, Any] | str]] = []
        #: The account limits enforced with 429s like the provider's (see :class:`RateLimits`),
        #: and whether those 429s carry OpenRouter-style ``X-RateLimit-*`` and ``Retry-After``
        #: headers (DashScope documents none): see :meth:`enforce`.
        self.limits: RateLimits | None = None
        self.rate_limit_headers = False
        self._initial_limits = (rpm, tpm, rate_limit_headers)
        self.enforce(rpm, tpm, headers=rate_limit_headers)
        self._requested_port = port
        self._port: int | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._queue: deque[Reply | Fault | Canned] = deque()
        self._requests: list[RecordedRequest] = []
        self._connections: dict[Any, threading.Thread] = {}
        self._earlier: set[Any] = set()
        self._disconnected = threading.Event()
        self._active = 0
        self._reset_counters()

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakeProvider:
        """Bind the port and serve in a background thread. Returns ``self``."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeDashScope-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every socket (listening and client) and join the threads."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections.items())
        for sock, _thread in connections:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        for _sock, thread in connections:
            thread.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` for the ``openai`` SDK: ``/compatible-mode/v1`` on DashScope,
        the dialect's own API path otherwise."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}{self.dialect.path}"

    # -- scripting and inspection ----------------------------------------------

    def queue(self, *items: Reply | Fault | Canned) -> None:
        """Append replies, faults and canned responses; each chat request consumes the oldest."""
        for item in items:
            if not isinstance(item, Reply | Fault | Canned):
                msg = f"queue() takes Reply, Fault or Canned objects, not {type(item).__name__}"
                raise TypeError(msg)
        with self._lock:
            self._queue.extend(items)

    @property
    def pending(self) -> int:
        """How many queued replies and faults have not been consumed yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since start or :meth:`reset`, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent request, or None."""
        with self._lock:
            return self._requests[-1] if self._requests else None

    @property
    def open_connections(self) -> int:
        """TCP connections currently open."""
        with self._lock:
            return len(self._connections)

    @property
    def max_open_connections(self) -> int:
        """The most TCP connections open at once among those accepted since start or
        :meth:`reset`.

        Counted when a request arrives, leaving out connections the client has
        already closed but whose server thread has not yet noticed (how many
        sockets the client holds, not how fast this server cleans up), and those
        already open at the reset: an earlier client's idle keep-alive socket is
        not the work being measured. Counting at accept instead would catch an
        HTTP pool that connects a split second before it closes the socket whose
        slot it reused.
        """
        with self._lock:
            return self._max_open

    @property
    def total_connections(self) -> int:
        """TCP connections accepted since start or :meth:`reset` (1 means keep-alive reuse)."""
        with self._lock:
            return self._total_connections

    @property
    def active_streams(self) -> int:
        """Chat requests being answered right now."""
        with self._lock:
            return self._active

    @property
    def max_concurrent_streams(self) -> int:
        """The most chat requests being answered at once since start or :meth:`reset`."""
        with self._lock:
            return self._max_active

    @property
    def disconnects(self) -> int:
        """Chat responses the client closed before the server finished writing them."""
        with self._lock:
            return self._disconnects

    @property
    def sends(self) -> list[tuple[float, dict[str, Any] | str]]:
        """With ``record_sends``: each SSE chunk written, with its wall-clock write time.

        For measuring delivery delays on one machine: a chunk's time here is
        comparable with the ``date`` of the Jupyter messages it caused.
        """
        with self._lock:
            return list(self._sends)

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Block until a client-side early close has been seen; False on timeout."""
        return self._disconnected.wait(timeout)

    def reset(self) -> None:
        """Forget queue, requests, sends and counters; restore the constructor's settings
        (models, latency, reasoning field, record_sends)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._sends.clear()
            self._reset_counters()
            self._earlier = set(self._connections)
        self._disconnected.clear()
        self.default_latency = self._initial_latency
        self.models = self._initial_models
        self.reasoning_field = self._initial_reasoning_field
        self.record_sends = self._initial_record_sends
        rpm, tpm, headers = self._initial_limits
        self.enforce(rpm, tpm, headers=headers)

    def enforce(
        self, rpm: int | None = None, tpm: int | None = None, *, headers: bool = False
    ) -> None:
        """Refuse requests over ``rpm`` / ``tpm`` from now on, with fresh buckets (see
        :class:`RateLimits`); ``headers`` adds rate-limit headers to those 429s."""
        self.limits = RateLimits(rpm, tpm) if rpm or tpm else None
        self.rate_limit_headers = headers

    @property
    def rate_limited(self) -> int:
        """Chat requests refused with 429 for the account limits since start or :meth:`reset`."""
        with self._lock:
            return self._rate_limited

    # -- used by the request handler -------------------------------------------

    def _reset_counters(self) -> None:
        self._max_open = 0
        self._total_connections = 0
        self._max_active = self._active
        self._disconnects = 0
        self._rate_limited = 0

    def _connection_opened(self, sock: Any, thread: threading.Thread) -> None:
        with self._lock:
            self._connections[sock] = thread
            self._total_connections += 1

    def _connection_closed(self, sock: Any) -> None:
        with self._lock:
            self._connections.pop(sock, None)
            self._earlier.discard(sock)

    def _sent(self, chunk: dict[str, Any] | str) -> None:
        with self._lock:
            self._sends.append((time.time(), chunk))

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            mine = [c for c in self._connections if c not in self._earlier]
            held = len(mine) - _closed_by_peer(mine)
            self._max_open = max(self._max_open, held)

    def _next_item(self) -> Reply | Fault | Canned | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _count_rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def _client_disconnected(self) -> None:
        with self._lock:
            self._disconnects += 1
        self._disconnected.set()

    @contextmanager
    def _answering(self, *, counted: bool) -> Iterator[None]:
        if not counted:
            yield
            return
        with self._lock:
            self._active += 1
            self._max_active = max(self._max_active, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def _check(self, authorization: str | None, body: Any) -> tuple[str, str | None] | None:
        """The provider's own checks, before any queued item is used.

        Returns ``(fault kind, message or None)`` for a request the provider
        would refuse, or None when it would be answered.
        """
        if authorization != f"Bearer {self.api_key}":
            return "invalid_api_key", None
        if not isinstance(body, dict):
            return "bad_body", None
        model = body.get("model")
        if not model:
            return "invalid_parameter", "you must provide a model parameter."
        if model not in self.models:
            return "model_not_found", None
        if body.get("stream") is not True:
            return "stream_required", None
        refuses = self.dialect.refuses_json_while_thinking
        message = wire.check_parameters(body, json_needs_no_thinking=refuses)
        return None if message is None else ("invalid_parameter", message)


#: The DashScope-speaking fake, by the name the tests and notebooks have always used.
FakeDashScope = FakeProvider

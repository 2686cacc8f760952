"""The openai SDK stream, turned into typed events.

This module and :mod:`glm_magic.connections` (the HTTP client the SDK is
given) are the only ones that import ``openai`` (slow to import, so it is
imported on the first request, never at ``%load_ext``) and know about HTTP.
It retries what is safe to retry: a refusal or a broken connection before the
first token. After the first token nothing is retried,
since the user has already seen part of a reply that a second attempt would
not reproduce.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import defaults
from .errors import redact
from .events import (
    AnswerDelta,
    Ended,
    Event,
    Retrying,
    Started,
    StreamError,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .providers import Provider, ProviderError
from .request import Request
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .pacing import Gate

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class Client:
    """One openai client per (base URL, key), reused so connections are pooled."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = defaults.TIMEOUT,
        max_connections: int | None = None,
    ) -> None:
        """``max_connections`` caps the pool, so N threads never hold more than N sockets."""
        import openai

        from .connections import http_client

        self._key = api_key
        self._sdk = openai.OpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,
            timeout=openai.Timeout(timeout, connect=15.0),
            http_client=http_client(max_connections),
        )

    def __repr__(self) -> str:
        return f"<glm_magic.Client {self._sdk.base_url}>"

    def prepare(self) -> None:
        """Do what the SDK itself does on first use, so the warm-up can do it before the
        first request: newer SDKs import the modules behind ``.chat.completions`` then
        (90 ms), and every SDK detects the platform for its headers once (6 ms)."""
        self._sdk.chat.completions  # noqa: B018
        self._sdk.default_headers  # noqa: B018

    def close(self) -> None:
        """Close the connection pool (a client for a key that was replaced)."""
        self._sdk.close()

    def stream(
        self,
        request: Request,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        gate: Gate | None = None,
    ) -> Iterator[Event]:
        """Yield the events of one reply; always ends with ``Ended``.

        Closing the generator (or an exception from its consumer) closes the
        HTTP response at once, so the server sees the connection go. ``stop``
        cuts a wait between retries short (a batch's worker threads get no
        KeyboardInterrupt), so no request is sent after the user stopped.
        ``gate`` (a batch's flow control, see :mod:`glm_magic.pacing`) is asked
        before every attempt and told every answer's status and headers.
        """
        import openai

        retry = retry or RetryPolicy()
        body = request.body()
        attempt = 0
        while True:
            failure, retry_after = None, None
            if gate is not None and not gate.before_send(stop):
                yield Ended("interrupted", False)
                return
            try:
                sdk_stream = self._sdk.chat.completions.create(**body)
            except openai.APIStatusError as exc:
                failure = self._status_error(exc, request.provider)
                retry_after = _retry_after(exc.response)
                retryable = exc.status_code in RETRY_STATUSES
                if gate is not None:
                    gate.answered(exc.status_code, exc.response.headers)
            except openai.APIConnectionError as exc:
                failure, retryable = self._connection_error(exc), True
            else:
                if gate is not None:
                    gate.answered(sdk_stream.response.status_code, sdk_stream.response.headers)
                outcome = yield from self._read(sdk_stream, request)
                if outcome is None:
                    return
                failure, retryable = outcome, True
            if not retryable or attempt >= retry.attempts:
                if failure.code == "connection_error":
                    failure = self._unreachable(failure, attempt)
                yield failure
                yield Ended(
                    "incomplete" if failure.code == "incomplete" else "error", False, failure
                )
                return
            delay = retry.delay(attempt, retry_after)
            attempt += 1
            yield Retrying(attempt, delay, failure.describe(), failure.status)
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                yield Ended("interrupted", False, failure)
                return

    def _read(self, sdk_stream: Any, request: Request) -> Iterator[Event]:
        """Read one opened stream. Returns a failure only if it broke before any token.

        The model that answered is the one the chunks name (a provider may map
        an alias to a dated id); it travels on ``Ended``.
        """
        import openai

        from .connections import httpx

        provider = request.provider
        request_id = sdk_stream.response.headers.get("x-request-id")
        # openai 1.x lets the HTTP library's own error escape a stream's iteration
        # unwrapped when the body breaks; newer SDKs wrap it in APIConnectionError.
        broken = (openai.APIConnectionError, httpx.TransportError)
        if "json" in sdk_stream.response.headers.get("content-type", ""):
            failure = self._json_instead_of_events(sdk_stream, request_id, provider)
            yield failure
            yield Ended("error", False, failure)
            return None
        yield Started(request.model, request_id)
        finish_reason: str | None = None
        answered: str | None = None
        pieces = _Pieces()
        try:
            for chunk in sdk_stream:
                answered = chunk.model or answered
                if chunk.usage is not None:
                    yield UsageReport(_usage(chunk.usage))
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta is not None:
                    yield from pieces.of(delta)
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
            yield from pieces.flush()
        except broken as exc:
            failure = self._connection_error(exc, request_id)
            if not pieces.got_token:
                return failure
            yield failure
            yield Ended("incomplete", False, failure, answered)
            return None
        except openai.APIError as exc:
            failure = self._stream_error(exc, request_id, provider)
            yield failure
            yield Ended("error", False, failure, answered)
            return None
        finally:
            sdk_stream.close()
        if finish_reason is None:
            failure = StreamError(
                "The stream ended before the model finished (no finish_reason): "
                "the connection was probably dropped. What arrived is kept.",
                code="incomplete",
                request_id=request_id,
            )
            if not pieces.got_token:
                return failure
            yield failure
            yield Ended("incomplete", False, failure, answered)
            return None
        yield Ended(finish_reason, True, None, answered)
        return None

    def _json_instead_of_events(
        self, sdk_stream: Any, request_id: str | None, provider: Provider
    ) -> StreamError:
        """A 200 answer that is a JSON document, not an event stream.

        The SDK would read it as a stream with no events; the provider's error
        in it (or the fact that the server did not stream) is what to show.
        """
        import openai

        try:
            data = json.loads(sdk_stream.response.read())
        except (ValueError, openai.APIConnectionError, OSError):
            data = None
        finally:
            sdk_stream.close()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) or (isinstance(error, str) and error):
            read = provider.read_error(data)
            return StreamError(
                redact(read.message or str(error), self._key),
                code=read.code,
                request_id=request_id or read.request_id,
            )
        return StreamError(
            "The server answered with a JSON document instead of a stream of events; "
            "glm_magic needs a server that streams (stream=true).",
            code="not_streamed",
            request_id=request_id,
        )

    def _status_error(self, exc: Any, provider: Provider) -> StreamError:
        read = _read_error(exc, provider)
        request_id = exc.request_id or read.request_id or _top_level_request_id(exc.response)
        return StreamError(
            redact(str(read.message or exc.message), self._key),
            code=read.code,
            status=exc.status_code,
            request_id=request_id,
        )

    def _stream_error(self, exc: Any, request_id: str | None, provider: Provider) -> StreamError:
        read = _read_error(exc, provider)
        return StreamError(
            redact(str(read.message or exc.message), self._key),
            code=read.code or "stream_error",
            request_id=request_id,
        )

    def listed_models(self, provider: Provider) -> tuple[list[str] | None, StreamError | None]:
        """:meth:`model_ids`, or what went wrong read in ``provider``'s dialect
        (``glm-magic doctor`` tells a refused key from an unreachable endpoint by it)."""
        import openai

        try:
            return self.model_ids(), None
        except openai.APIStatusError as exc:
            return None, self._status_error(exc, provider)
        except openai.APIConnectionError as exc:
            return None, self._connection_error(exc)

    def _unreachable(self, failure: StreamError, retries: int) -> StreamError:
        """The last connection error of a request, naming the URL tried and the retries made,
        so a wrong base URL or a blocked network can be told from a server's own error."""
        url = f"{str(self._sdk.base_url).rstrip('/')}/chat/completions"
        tries = f"{retries} retr{'y' if retries == 1 else 'ies'}"
        message = f"Could not reach {url} (gave up after {tries}): {failure.message}"
        return replace(failure, message=message)

    def model_ids(self) -> list[str]:
        """The ids the server's ``GET /models`` lists, in its order."""
        return [model.id for model in self._sdk.models.list()]

    def _connection_error(self, exc: Any, request_id: str | None = None) -> StreamError:
        cause = exc.__cause__ or exc.__context__
        detail = f": {cause}" if cause else ""
        message = getattr(exc, "message", None) or f"Connection error ({type(exc).__name__})"
        return StreamError(
            redact(f"{message.rstrip('.')}{detail}", self._key),
            code="connection_error",
            request_id=request_id,
        )


_clients: dict[tuple[str, str, float, int | None], Client] = {}


def get_client(
    base_url: str, api_key: str, *, timeout: float, max_connections: int | None = None
) -> Client:
    """The shared client for this endpoint, key and pool size.

    Shared because building one costs a third of a second (the TLS context
    loads the CA store): a batch of a few seconds would spend a tenth of its
    time on it. The cache is keyed by a digest of the key, so the key itself
    is in no dict a user might print; a client for a key that was replaced
    (``%glm key``) is closed rather than kept.
    """
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    key = (base_url, digest, timeout, max_connections)
    client = _clients.get(key)
    if client is None:
        for old in [k for k in _clients if k[0] == base_url and k[1] != digest]:
            _clients.pop(old).close()
        client = _clients[key] = Client(
            base_url, api_key, timeout=timeout, max_connections=max_connections
        )
    return client


class _Pieces:
    """Turns stream deltas into thinking, answer and tool-call events.

    Some GLM servers send an answer piece that is only whitespace (``"\\n"``)
    before the thinking starts (Z.ai, vLLM with GLM-4.5: see
    :mod:`glm_magic.providers.zai`). Shown as is, every view would open an
    empty answer before the thinking; so whitespace that comes before any
    other text is held back, dropped if thinking follows and kept if the
    answer does.
    """

    def __init__(self) -> None:
        self.got_token = False
        self.held = ""

    def of(self, delta: Any) -> Iterator[Event]:
        thinking = _reasoning(delta)
        if thinking:
            self.got_token = True
            self.held = ""
            yield ThinkingDelta(thinking)
        content = delta.content
        if content:
            if not self.got_token and not content.strip():
                self.held += content
            else:
                self.got_token = True
                yield AnswerDelta(self.held + content)
                self.held = ""
        if delta.tool_calls:
            self.got_token = True
            self.held = ""
            for call in delta.tool_calls:
                fn = call.function
                yield ToolCallDelta(
                    call.index,
                    call.id or None,
                    fn.name if fn else None,
                    (fn.arguments or "") if fn else "",
                )

    def flush(self) -> Iterator[Event]:
        """A reply that was only whitespace still has that answer."""
        if self.held and not self.got_token:
            self.got_token = True
            yield AnswerDelta(self.held)
            self.held = ""


def _reasoning(delta: Any) -> str | None:
    """The thinking in a delta: ``reasoning_content`` (DashScope, Zhipu, Z.ai,
    SGLang) or ``reasoning`` (vLLM, OpenRouter), whichever the provider.

    Neither is an OpenAI field, so pydantic 2 keeps them in ``model_extra``.
    Reading that dict costs a tenth of ``getattr``, which goes through
    pydantic's ``__getattr__`` and raises inside when the field is absent: about
    2 µs per chunk, 2% of the kernel's time on a fast stream (benchmarks).
    """
    extra = getattr(delta, "model_extra", None)
    if extra is None:  # pydantic 1: extra fields are plain attributes
        return getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
    return extra.get("reasoning_content") or extra.get("reasoning")


def _usage(raw: Any) -> Usage:
    details = getattr(raw, "completion_tokens_details", None)
    reasoning = getattr(details, "reasoning_tokens", None) if details else None
    return Usage(
        prompt_tokens=raw.prompt_tokens or 0,
        completion_tokens=raw.completion_tokens or 0,
        total_tokens=raw.total_tokens or 0,
        reasoning_tokens=reasoning or 0,
    )


def _read_error(exc: Any, provider: Provider) -> ProviderError:
    """The provider's code and message in an SDK error.

    The SDK gives ``body`` as the parsed JSON's ``error`` value when there is
    one, else the whole JSON, else the text (an SSE line, a bare string).
    """
    return provider.read_error(exc.body)


def _top_level_request_id(response: Any) -> str | None:
    try:
        data = response.json()
    except Exception:
        return None
    return data.get("request_id") if isinstance(data, dict) else None


def _retry_after(response: Any) -> float | None:
    """Seconds the provider asked us to wait: Retry-After as seconds or an HTTP date."""
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())

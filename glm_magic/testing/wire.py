"""Byte-level pieces of the DashScope compatible-mode wire format, and the provider's rules.

Everything the fake server writes is built here (chunks, SSE framing, error
bodies, the default reply's text, the parameter checks), so the shapes can be
checked against the provider's documentation in one place and
:mod:`glm_magic.testing.server` can stay about sockets and timing. Standard
library only.

Provider facts used here, and where they come from.

Confirmed (public documentation pages and verbatim provider responses quoted in
public repositories and issues):

- Chunk shapes: first chunk ``{"content":null,"role":"assistant",
  "reasoning_content":""}`` in thinking mode and ``{"content":"",
  "role":"assistant"}`` without it; reasoning deltas ``{"content":null,
  "reasoning_content":"..."}``; finish chunk ``{"content":"",
  "reasoning_content":null}`` with ``finish_reason``; a last chunk with
  ``"choices":[]`` and usage (with ``prompt_tokens_details.cached_tokens``)
  only when ``stream_options.include_usage`` is set; then ``data: [DONE]``.
  Keys ``object``, ``usage:null``, ``created``, ``system_fingerprint:null``,
  ``model`` and ``id: chatcmpl-<uuid>`` on every chunk. Sources: Model Studio
  "Deep thinking" and "Streaming output" pages
  (alibabacloud.com/help/en/model-studio/deep-thinking, .../stream).
- Tool call streaming: first fragment of call *i* carries ``index``, ``id``
  (``call_`` + 22 hex), ``type`` and ``function.name``; later fragments have
  ``id: ""`` and only ``function.arguments``; the finish chunk has
  ``finish_reason: "tool_calls"`` and an empty delta ``{}``. Source: Model
  Studio function-calling streaming samples (qwen-plus, 2025-2026).
- ``enable_thinking`` is not an OpenAI parameter and arrives as a top-level
  body key (``extra_body``); GLM is stream-only. Source: Model Studio GLM page.
- Error bodies ``{"error":{"message","type","param","code"},"request_id"}``
  and these verbatim messages/codes: 401 ``invalid_api_key`` "Incorrect API key
  provided. For details, see: ...#apikey-error" (type
  ``invalid_request_error``); 400 ``invalid_parameter_error`` "This model only
  support stream mode, please enable the stream parameter to access the model. ";
  400 ``invalid_parameter_error`` with "<400> InternalError.Algo.InvalidParameter:
  ..." prefix and the range texts "Temperature should be in [0.0, 2.0)",
  "Range of top_p should be (0.0, 1.0]", "Range of max_tokens should be [1, N]";
  400 ``data_inspection_failed`` "Input data may contain inappropriate content."
  and, inside a 200 stream, ``data: {"error":{... "Output data may contain
  inappropriate content." ...}}``; 403 ``AllocationQuota.FreeTierOnly`` (type
  equals code); 404 ``model_not_found`` "Model not exist." (compatible mode);
  429 ``limit_requests`` (type equals code) "You have exceeded your current
  request limit. ..."; 500 ``internal_error`` "An internal error has occured,
  ...". Source: Model Studio "Error messages" page
  (help.aliyun.com/zh/model-studio/error-code) and provider responses quoted
  verbatim in public GitHub issues and test fixtures.

Assumed (not found in public material, chosen to be plausible):

- The ``x-request-id`` response header equal to the body's ``request_id``, and
  its presence on successful streams.
- A ``Retry-After`` header on 429 (only when the fault sets ``retry_after``).
- ``completion_tokens_details.reasoning_tokens`` in GLM usage (documented for
  other thinking models; thinking tokens are billed as output).
- Answer deltas in thinking mode ``{"content":"...","reasoning_content":null}``
  (the samples found show only reasoning deltas in compatible mode).
- ``reasoning_content: null`` in tool-call deltas in thinking mode, and the
  always-present role chunk before tool calls (the provider puts the role into
  the first tool-call chunk when there is no thinking).
- Error type ``internal_error`` on 500, the 404/405 bodies for wrong paths and
  methods, the order of the automatic checks, and the ``Content-Type`` of the
  stream (``text/event-stream;charset=UTF-8``).
- JSON mode (``response_format`` ``json_object``) refused with 400
  ``invalid_parameter_error`` when no message contains the word "json" (the
  documented message, quoted with its ``<400> InternalError.Algo.InvalidParameter:``
  prefix in public issues) and when ``enable_thinking`` is true ("Json mode
  response is not supported when enable_thinking is true"). Both messages are
  on the Model Studio error-code page; the second is documented for hybrid
  thinking models in general and assumed to hold for GLM. Its exact prefix is
  assumed (none), and a request that leaves ``enable_thinking`` out is
  answered.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

#: The provider's documented maximum answer length (``max_tokens``) and
#: maximum input per model. Deliberately a copy of the provider's numbers, not an import of
#: ``glm_magic.catalogue``: the fake plays the provider, so a mistake in the
#: client's own table must show up as a rejected request, not be shared.
MAX_ANSWER_TOKENS: dict[str, int] = {
    "glm-5": 16_384,
    "glm-4.7": 16_384,
    "glm-4.6": 16_384,
    "glm-4.5": 16_384,
    "glm-4.5-air": 16_384,
}
MAX_INPUT_TOKENS: dict[str, int] = {
    "glm-5": 169_984,
    "glm-4.7": 169_984,
    "glm-4.6": 169_984,
    "glm-4.5": 98_304,
    "glm-4.5-air": 98_304,
}

#: Characters per token used for every estimate (prompt, thinking, answer).
CHARS_PER_TOKEN = 4

_APIKEY_DOC = "https://help.aliyun.com/zh/model-studio/error-code#apikey-error"
_RATE_DOC = "https://help.aliyun.com/zh/model-studio/error-code#rate-limit"
_INSPECTION_DOC = "https://help.aliyun.com/zh/model-studio/error-code#inappropriate-content"


@dataclass(frozen=True)
class ErrorSpec:
    """How the provider reports one kind of failure: HTTP status and error object."""

    status: int
    type: str
    code: str
    message: str


#: Every error the fake can answer with, keyed by :class:`~glm_magic.testing.Fault` kind.
ERRORS: dict[str, ErrorSpec] = {
    "invalid_api_key": ErrorSpec(
        401,
        "invalid_request_error",
        "invalid_api_key",
        f"Incorrect API key provided. For details, see: {_APIKEY_DOC}",
    ),
    "stream_required": ErrorSpec(
        400,
        "invalid_request_error",
        "invalid_parameter_error",
        "This model only support stream mode, please enable the stream parameter "
        "to access the model. ",
    ),
    "invalid_parameter": ErrorSpec(
        400,
        "invalid_request_error",
        "invalid_parameter_error",
        "<400> InternalError.Algo.InvalidParameter: Required parameter(s) missing or "
        "invalid, please check the request parameters.",
    ),
    "data_inspection_failed": ErrorSpec(
        400,
        "data_inspection_failed",
        "data_inspection_failed",
        f"Input data may contain inappropriate content. For details, see: {_INSPECTION_DOC}",
    ),
    "free_tier_only": ErrorSpec(
        403,
        "AllocationQuota.FreeTierOnly",
        "AllocationQuota.FreeTierOnly",
        "The free tier of the model has been exhausted. If you wish to continue access "
        'the model on a paid basis, please disable the "use free tier only" mode in the '
        "management console.",
    ),
    "model_not_found": ErrorSpec(
        404, "invalid_request_error", "model_not_found", "Model not exist."
    ),
    "rate_limit": ErrorSpec(
        429,
        "limit_requests",
        "limit_requests",
        f"You have exceeded your current request limit. For details, see: {_RATE_DOC}",
    ),
    # The account's limits, as the fake enforces them (``FakeDashScope(rpm=..., tpm=...)``):
    # the messages by which Model Studio says which bound was hit (rate-limit page,
    # https://help.aliyun.com/en/model-studio/rate-limit, 2026-12-01); the code is the
    # ``limit_requests`` of the compatible mode's 429 above.
    "rpm_exceeded": ErrorSpec(
        429,
        "limit_requests",
        "limit_requests",
        "Requests rate limit exceeded, please try again later.",
    ),
    "tpm_exceeded": ErrorSpec(
        429,
        "limit_requests",
        "limit_requests",
        "Allocated quota exceeded, please increase your quota limit.",
    ),
    "server_error": ErrorSpec(
        500,
        "internal_error",
        "internal_error",
        "An internal error has occured, please try again later or contact service support.",
    ),
    # What the provider puts inside a 200 stream when output moderation stops it.
    "stream_error": ErrorSpec(
        200,
        "data_inspection_failed",
        "data_inspection_failed",
        "Output data may contain inappropriate content.",
    ),
    # Not provider errors proper: answers to requests no real client should send.
    "bad_path": ErrorSpec(404, "invalid_request_error", "NotFound", "Not found!"),
    "bad_method": ErrorSpec(
        405,
        "invalid_request_error",
        "invalid_request_error",
        "Request method '{}' is not supported.",
    ),
    "bad_body": ErrorSpec(
        400,
        "invalid_request_error",
        "invalid_parameter_error",
        "Required body invalid, please check the request body format.",
    ),
}


def error_object(kind: str, message: str | None = None) -> dict[str, Any]:
    """The ``{"message", "type", "param", "code"}`` object for ``kind``."""
    spec = ERRORS[kind]
    return {
        "message": spec.message if message is None else message,
        "type": spec.type,
        "param": None,
        "code": spec.code,
    }


def error_body(kind: str, request_id: str, message: str | None = None) -> dict[str, Any]:
    """A complete JSON error response body, as the provider sends with a non-200 status."""
    return {"error": error_object(kind, message), "request_id": request_id}


def new_request_id() -> str:
    """A request id in the provider's shape (a UUID)."""
    return str(uuid.uuid4())


def new_completion_id() -> str:
    """A completion id in the provider's shape: ``chatcmpl-<uuid>``."""
    return f"chatcmpl-{uuid.uuid4()}"


def new_tool_call_id() -> str:
    """A tool call id in the provider's shape: ``call_`` and 22 hex digits."""
    return "call_" + uuid.uuid4().hex[:22]


def encode(obj: Any) -> str:
    """JSON as the provider writes it: compact, and non-ASCII text left as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sse_event(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: <payload>`` and a blank line."""
    payload = data if isinstance(data, str) else encode(data)
    return f"data: {payload}\n\n".encode()


DONE_EVENT = sse_event("[DONE]")


def http_chunk(payload: bytes) -> bytes:
    """``payload`` framed as one HTTP/1.1 chunk (chunked transfer encoding)."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


LAST_HTTP_CHUNK = b"0\r\n\r\n"


def split_text(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of ``size`` characters (code points, so Chinese stays whole)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def estimate_tokens(text: str) -> int:
    """About one token per four characters, rounded up; zero only for empty text."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class ChunkMaker:
    """Builds the ``chat.completion.chunk`` objects of one streamed reply.

    All chunks of one reply share ``id``, ``created`` and ``model``, like the
    provider's. ``thinking`` says whether the request runs in thinking mode:
    the provider then adds ``reasoning_content`` to every delta (``null`` when
    the delta carries answer text), and leaves it out entirely otherwise.
    ``reasoning_field`` renames that key, to imitate servers such as vLLM that
    call it ``reasoning``.
    """

    def __init__(
        self,
        model: str,
        created: int,
        *,
        thinking: bool,
        reasoning_field: str = "reasoning_content",
    ) -> None:
        self.model = model
        self.created = created
        self.thinking = thinking
        self.reasoning_field = reasoning_field
        self.id = new_completion_id()

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None):
        return {
            "choices": choices,
            "object": "chat.completion.chunk",
            "usage": usage,
            "created": self.created,
            "system_fingerprint": None,
            "model": self.model,
            "id": self.id,
        }

    def _rename(self, delta: dict[str, Any]) -> dict[str, Any]:
        if self.reasoning_field == "reasoning_content":
            return delta
        return {
            self.reasoning_field if k == "reasoning_content" else k: v for k, v in delta.items()
        }

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        choice = {"delta": self._rename(delta), "index": 0, "logprobs": None, "finish_reason": None}
        return self._chunk([choice])

    def role(self) -> dict[str, Any]:
        """The first chunk: the assistant role and no text yet."""
        if self.thinking:
            return self._delta({"content": None, "role": "assistant", "reasoning_content": ""})
        return self._delta({"content": "", "role": "assistant"})

    def reasoning(self, text: str) -> dict[str, Any]:
        """A piece of the thinking."""
        return self._delta({"content": None, "reasoning_content": text})

    def content(self, text: str) -> dict[str, Any]:
        """A piece of the answer."""
        if self.thinking:
            return self._delta({"content": text, "reasoning_content": None})
        return self._delta({"content": text})

    def tool_call(
        self,
        index: int,
        *,
        call_id: str = "",
        name: str | None = None,
        arguments: str = "",
    ) -> dict[str, Any]:
        """A fragment of tool call ``index``: the first carries id and name, later ones neither."""
        function: dict[str, Any] = {"arguments": arguments}
        if name is not None:
            function = {"name": name, "arguments": arguments}
        call = {"index": index, "id": call_id, "type": "function", "function": function}
        delta: dict[str, Any] = {"content": None, "tool_calls": [call]}
        if self.thinking:
            delta["reasoning_content"] = None
        return self._delta(delta)

    def finish(self, reason: str) -> dict[str, Any]:
        """The chunk that carries ``finish_reason``."""
        if reason == "tool_calls":
            delta: dict[str, Any] = {}
        elif self.thinking:
            delta = {"content": "", "reasoning_content": None}
        else:
            delta = {"content": ""}
        choice = {
            "finish_reason": reason,
            "delta": self._rename(delta),
            "index": 0,
            "logprobs": None,
        }
        return self._chunk([choice])

    def usage(self, usage: dict[str, Any]) -> dict[str, Any]:
        """The last chunk when ``stream_options.include_usage`` is set: no choices, only usage."""
        return self._chunk([], usage)


def usage_dict(prompt_tokens: int, reasoning_tokens: int, answer_tokens: int) -> dict[str, Any]:
    """The usage object: thinking tokens count as completion (output) tokens."""
    completion = reasoning_tokens + answer_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def content_chunks(
    maker: ChunkMaker,
    *,
    thinking: str,
    answer: str,
    tool_calls: list[dict[str, Any]] | None,
    chunk_chars: int,
) -> tuple[list[dict[str, Any]], str]:
    """The chunks that carry text, in the order the model produces it.

    Thinking first, then the answer, then each tool call (its id and name, then
    its JSON arguments in pieces). Also returns all tool-call argument text, so
    the caller can count it as output tokens.
    """
    chunks = [maker.reasoning(piece) for piece in split_text(thinking, chunk_chars)]
    chunks += [maker.content(piece) for piece in split_text(answer, chunk_chars)]
    all_arguments = ""
    for position, call in enumerate(tool_calls or []):
        index = call.get("index", position)
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        all_arguments += arguments
        call_id = call.get("id") or new_tool_call_id()
        chunks.append(maker.tool_call(index, call_id=call_id, name=str(call["name"])))
        chunks += [maker.tool_call(index, arguments=p) for p in split_text(arguments, chunk_chars)]
    return chunks, all_arguments


# -- what the provider does with a request ------------------------------------


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message, whether ``content`` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body.get("messages") or [] if isinstance(m, dict)]


def prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's size in tokens, estimated from the text of every message."""
    return estimate_tokens("".join(message_text(m) for m in _messages(body)))


def default_texts(body: dict[str, Any]) -> tuple[str, str]:
    """Thinking and answer for a request nothing was queued for; deterministic.

    The thinking quotes the last user message (first 200 characters); the
    answer quotes all of it and says how many messages arrived, so conversation
    tests can see their history reach the server. When ``response_format`` asks
    for JSON, or the last user message asks for a "JSON object" (as a model
    without JSON mode is asked), the answer is ``{"echo": <first 50 chars>,
    "messages": <count>}``.
    When the request ends with ``tool`` results the answer quotes them
    (``Tool results: name -> <first 200 chars>``); when the default reply calls
    a tool instead (see :func:`default_tool_call`) the answer is empty.
    """
    messages = _messages(body)
    users = [m for m in messages if m.get("role") == "user"]
    last = message_text(users[-1]) if users else ""
    count = len(messages)
    call = default_tool_call(body)
    plan = f"I will call {call['name']}." if call else "I will answer briefly and directly."
    thinking = f"The user asks: {last[:200]}. The conversation has {count} messages. {plan}"
    if call:
        return thinking, ""
    fmt = body.get("response_format")
    json_format = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    if json_format or "json object" in last.lower():
        return thinking, encode({"echo": last[:50], "messages": count})
    results = _tool_results(messages)
    if results:
        return thinking, results
    return thinking, f"You said: {last} ({count} messages received)"


#: Words too common to say which tool a question is about.
_COMMON_WORDS = frozenset(
    {"the", "and", "for", "with", "from", "this", "that", "what", "which", "how", "are"}
)


def _words(text: str) -> set[str]:
    """The distinct lower-cased words of ``text``; ``snake_case`` names split at ``_``."""
    return {w for w in re.findall(r"[^\W_]+", text.lower()) if len(w) > 2} - _COMMON_WORDS


def default_tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool call the default reply makes, or None when it answers in text.

    It calls a tool when the request offers ``tools`` (and ``tool_choice`` is
    not ``"none"``) and no ``tool`` message follows the last user message, so
    the default conversation is one call and then an answer quoting its result.
    The tool is the offered function whose name and description share the
    most words with the last user message (the first offered one on a tie);
    its arguments come from its JSON schema (see :func:`example_arguments`).
    """
    functions = [
        tool["function"]
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
        and isinstance(tool.get("function"), dict)
        and tool["function"].get("name")
    ]
    if not functions or body.get("tool_choice") == "none":
        return None
    messages = _messages(body)
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if any(m.get("role") == "tool" for m in messages[users[-1] + 1 if users else 0 :]):
        return None
    last = message_text(messages[users[-1]]) if users else ""
    asked = _words(last)

    def overlap(function: dict[str, Any]) -> int:
        return len(asked & _words(f"{function['name']} {function.get('description') or ''}"))

    chosen = max(functions, key=overlap)  # max() keeps the first of equal scores
    return {
        "name": str(chosen["name"]),
        "arguments": example_arguments(chosen.get("parameters"), last),
    }


def example_arguments(schema: Any, text: str) -> dict[str, Any]:
    """Made-up values for the required parameters of a function's JSON schema.

    The first ``enum`` value when there is one; for a string, the word after
    the parameter's name in ``text`` ("revenue by column region" gives
    ``column="region"``), else ``"example"``; ``1``, ``1.0``, ``true``, ``[]``
    and ``{}`` for integers, numbers, booleans, arrays and objects. Optional
    parameters are left out.
    """
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties") or {}
    return {
        name: _example_value(name, properties.get(name) or {}, text)
        for name in schema.get("required") or []
        if isinstance(name, str)
    }


def _example_value(name: str, schema: dict[str, Any], text: str) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [
            s for s in schema.get(key) or [] if isinstance(s, dict) and s.get("type") != "null"
        ]
        if options:
            return _example_value(name, options[0], text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "string" or kind is None:
        found = re.search(rf"(?<![^\W_]){re.escape(name)}\W+([^\W_][\w.-]*)", text, re.IGNORECASE)
        return found.group(1).rstrip(".-") if found else "example"
    return {"integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(kind)


def _tool_results(messages: list[dict[str, Any]]) -> str:
    """``Tool results: name -> text`` for the ``tool`` messages that end the request, or ""."""
    trailing: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        trailing.insert(0, message)
    if not trailing:
        return ""
    names = {
        call.get("id"): (call.get("function") or {}).get("name")
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
        if isinstance(call, dict)
    }
    quoted = [
        f"{names.get(m.get('tool_call_id')) or m.get('name') or 'tool'} -> {message_text(m)[:200]}"
        for m in trailing
    ]
    return "Tool results: " + "; ".join(quoted)


_INVALID = "<400> InternalError.Algo.InvalidParameter: "


def check_parameters(body: dict[str, Any], *, json_needs_no_thinking: bool = True) -> str | None:
    """The provider's message for an out-of-range parameter, or None if all are fine.

    Checks messages, the input's size (estimated) against the known GLM models' max
    input, ``temperature`` in [0, 2), ``top_p`` in (0, 1],
    ``max_tokens`` against the documented maximum answer of the known GLM
    models (other models get no ``max_tokens`` check), and JSON mode's two
    conditions: no thinking (DashScope's rule: ``json_needs_no_thinking``), and
    the word "json" in a message.
    """
    if not body.get("messages"):
        return _INVALID + "[] is too short"
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        if json_needs_no_thinking and body.get("enable_thinking") is True:
            return "Json mode response is not supported when enable_thinking is true"
        if not any("json" in message_text(m).lower() for m in _messages(body)):
            return (
                f"{_INVALID}'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'."
            )
    ranges = (
        ("temperature", lambda v: 0 <= v < 2, "Temperature should be in [0.0, 2.0)"),
        ("top_p", lambda v: 0 < v <= 1, "Range of top_p should be (0.0, 1.0]"),
    )
    for name, ok, message in ranges:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{_INVALID}'{name}' must be Float"
        if not ok(value):
            return _INVALID + message
    max_input = MAX_INPUT_TOKENS.get(str(body.get("model")))
    if max_input is not None and prompt_tokens(body) > max_input:
        return f"{_INVALID}Range of input length should be [1, {max_input}]"
    max_tokens = body.get("max_tokens")
    limit = MAX_ANSWER_TOKENS.get(str(body.get("model")))
    if max_tokens is not None and limit is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            return f"{_INVALID}'max_tokens' must be Integer"
        if not 1 <= max_tokens <= limit:
            return f"{_INVALID}Range of max_tokens should be [1, {limit}]"
    return None

"""The typed events a streamed reply is turned into.

The client yields these and nothing else, so views and the result builder never
see SDK objects or HTTP: they can be driven by any source of events, and the
client can change transport without touching them. The runner adds the two
tool events when it runs the functions the model asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of a request. ``estimated``: counted from the text, not reported by the
    provider (an interrupted stream ends before its usage chunk, yet is billed)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.estimated or other.estimated,
        )


@dataclass(frozen=True, slots=True)
class Started:
    """The provider accepted the request; the stream is open."""

    model: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Retrying:
    """A request failed before its first token and will be sent again after ``delay``.

    ``status`` is the HTTP status of the refusal (None for a broken connection),
    so a batch can slow down on 429 without parsing ``reason``.
    """

    attempt: int
    delay: float
    reason: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """One streamed fragment of a tool call; ``index`` ties fragments together."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass
class ToolCall:
    """One function the model asked for and the kernel ran (or refused to run).

    ``arguments`` is the parsed JSON object, or the raw text when it was not
    valid JSON. ``result`` is exactly what the model was sent back, error text
    included; ``error`` is None when the call succeeded.
    """

    id: str
    name: str
    arguments: dict[str, Any] | str
    result: str
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The runner is about to run a tool; views flush first so its prints land in order."""

    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallDone:
    """The runner ran a tool (views show it; they never call tools themselves)."""

    call: ToolCall


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage


@dataclass(frozen=True, slots=True)
class StreamError:
    """The provider refused the request or broke off the stream.

    ``code`` is the provider's error code when it gave one (``invalid_api_key``,
    ``limit_requests``...), else a short name of what happened locally.
    """

    message: str
    code: str | None = None
    status: int | None = None
    request_id: str | None = None

    def describe(self) -> str:
        parts = [self.message.strip()]
        if self.code:
            parts.insert(0, f"[{self.code}]")
        if self.status:
            parts.insert(0, f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Ended:
    """Always the last event. ``complete`` is True only for a normal end of stream.

    ``model`` is the model the provider's chunks named (None: no chunk came).
    """

    finish_reason: str
    complete: bool
    error: StreamError | None = field(default=None)
    model: str | None = None


Event = (
    Started
    | Retrying
    | ThinkingDelta
    | AnswerDelta
    | ToolCallDelta
    | ToolCallStarted
    | ToolCallDone
    | UsageReport
    | StreamError
    | Ended
)

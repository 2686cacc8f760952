"""The typed events a streamed reply is turned into.

The client yields these and nothing else, so views and the result builder never
see SDK objects or HTTP: they can be driven by any source of events, and the
client can change transport without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class Started:
    """The provider accepted the request; the stream is open."""

    model: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Retrying:
    """A request failed before its first token and will be sent again after ``delay``."""

    attempt: int
    delay: float
    reason: str


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
    """Always the last event. ``complete`` is True only for a normal end of stream."""

    finish_reason: str
    complete: bool
    error: StreamError | None = field(default=None)


Event = (
    Started
    | Retrying
    | ThinkingDelta
    | AnswerDelta
    | ToolCallDelta
    | UsageReport
    | StreamError
    | Ended
)

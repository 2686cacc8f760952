"""How each provider's API differs on the wire, for the fake server to play it.

The fake plays one dialect at a time: its paths, the one thinking switch it
honours (a Zhipu-style fake ignores ``enable_thinking``, as Zhipu does), the
delta field that carries the thinking, the models it serves, and the shape of
its error bodies. The facts and their sources are in the provider modules
(:mod:`glm_magic.providers`); this module restates them on the server's side
on purpose, so a mistake in the client's dialect shows up as a refused or
misread request instead of being shared. Where the error wording or status
was not found in public material it is marked "assumed". Standard library
only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import wire


def _switch(body: dict[str, Any], *path: str) -> Any:
    """The value at ``path`` in the request body, None when any step is missing."""
    value: Any = body
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _dashscope_thinking(body: dict[str, Any]) -> bool:
    return body.get("enable_thinking", True) is not False


def _zhipu_thinking(body: dict[str, Any]) -> bool:
    return _switch(body, "thinking", "type") != "disabled"


def _openrouter_thinking(body: dict[str, Any]) -> bool:
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        return True
    return reasoning.get("enabled") is not False and reasoning.get("effort") != "none"


def _vllm_thinking(body: dict[str, Any]) -> bool:
    return _switch(body, "chat_template_kwargs", "enable_thinking") is not False


@dataclass(frozen=True)
class Failure:
    """One fault kind in one dialect: HTTP status, the provider's code and message."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Dialect:
    """One provider's wire format, as the fake server speaks it.

    ``lead_newline``: in thinking mode, an answer piece ``"\\n"`` comes before
    the thinking, as GLM-4.5 on vLLM and Z.ai streams were seen to send.
    ``refuses_json_while_thinking``: DashScope's JSON-mode rule.
    """

    name: str
    path: str
    thinking: Callable[[dict[str, Any]], bool]
    reasoning_field: str
    models: tuple[str, ...]
    failures: dict[str, Failure] = field(default_factory=dict)
    lead_newline: bool = False
    refuses_json_while_thinking: bool = False

    def error(self, kind: str, request_id: str, message: str | None = None) -> tuple[int, Any]:
        """HTTP status and body for a fault ``kind`` (a key of :data:`wire.ERRORS`).

        Over an enforced limit (``rpm_exceeded``, ``tpm_exceeded``: DashScope's two
        messages) another dialect answers with its own rate-limit refusal.
        """
        if kind in ("rpm_exceeded", "tpm_exceeded") and "rate_limit" in self.failures:
            kind = "rate_limit"
        if self.name == "dashscope" or kind not in self.failures:
            spec = wire.ERRORS[kind]
            if self.name == "dashscope":
                return spec.status, wire.error_body(kind, request_id, message)
            failure = Failure(spec.status, spec.code, message or spec.message)
        else:
            failure = self.failures[kind]
        text = message if message is not None else failure.message
        return failure.status, self.body(kind, failure, text)

    def body(self, kind: str, failure: Failure, message: str) -> Any:
        """The error body in this dialect's shape (see each dialect below)."""
        return {"error": {"code": failure.code, "message": message}}

    def stream_error(self, message: str | None) -> dict[str, Any]:
        """The ``data:`` object that breaks off a 200 stream."""
        if self.name == "dashscope":
            return {"error": wire.error_object("stream_error", message)}
        status, body = self.error("stream_error", "", message)
        return body if isinstance(body, dict) else {"error": {"message": str(body)}}


class _OpenRouter(Dialect):
    """``{"error": {"message", "code": <status>, "metadata"}}``; an upstream refusal
    carries the upstream's own body in ``metadata.raw`` (captured, 2026-09)."""

    def body(self, kind: str, failure: Failure, message: str) -> Any:
        error: dict[str, Any] = {"message": message, "code": failure.status}
        if kind == "data_inspection_failed":
            error["message"] = "Provider returned error"
            raw = {
                "error": {
                    "code": "data_inspection_failed",
                    "param": None,
                    "message": message,
                    "type": "data_inspection_failed",
                }
            }
            error["metadata"] = {"raw": "data: " + wire.encode(raw), "provider_name": "Alibaba"}
        return {"error": error}


class _VLLM(Dialect):
    """``{"object": "error", "message", "type", "param", "code": <status>}``; a
    wrong key: ``{"error": "Unauthorized"}`` from the API-key middleware."""

    def body(self, kind: str, failure: Failure, message: str) -> Any:
        if kind == "invalid_api_key":
            return {"error": message}
        return {
            "object": "error",
            "message": message,
            "type": failure.code,
            "param": None,
            "code": failure.status,
        }


#: Zhipu's numeric codes (https://docs.z.ai/api-reference/api-code, 2026). The
#: HTTP statuses for 1002, 1113 and 1301 are assumed.
_ZHIPU_FAILURES = {
    "invalid_api_key": Failure(
        401,
        "1002",
        "Invalid Authentication Token, please confirm the correct transmission of the "
        "Authentication Token",
    ),
    "stream_required": Failure(400, "1210", "Incorrect API call parameters"),
    "invalid_parameter": Failure(
        400, "1210", "Incorrect API call parameters, please check the documentation"
    ),
    "data_inspection_failed": Failure(
        400,
        "1301",
        "System detected potentially unsafe or sensitive content in input or generation. "
        "Please avoid using prompts that may generate sensitive content.",
    ),
    "free_tier_only": Failure(403, "1113", "Your account is in arrears, please recharge"),
    "model_not_found": Failure(400, "1211", "模型不存在，请检查模型代码。"),
    "rate_limit": Failure(
        429, "1302", "High concurrency usage of this API, please reduce concurrency"
    ),
    "server_error": Failure(500, "500", "Internal Error"),
    "stream_error": Failure(200, "1301", "System detected potentially unsafe content."),
    "bad_path": Failure(404, "404", "Not Found"),
    "bad_method": Failure(405, "405", "Request method '{}' is not supported."),
    "bad_body": Failure(400, "1210", "Incorrect API call parameters"),
}

#: OpenRouter's statuses (its errors page: 402 for credits); messages assumed
#: except the upstream refusal.
_OPENROUTER_FAILURES = {
    "invalid_api_key": Failure(401, "401", "No auth credentials found"),
    "stream_required": Failure(400, "400", "stream must be true"),
    "invalid_parameter": Failure(400, "400", "Invalid request parameters"),
    "data_inspection_failed": Failure(
        400, "400", "Input text data may contain inappropriate content."
    ),
    "free_tier_only": Failure(402, "402", "Insufficient credits"),
    "model_not_found": Failure(400, "400", "The model is not a valid model ID"),
    "rate_limit": Failure(429, "429", "Rate limit exceeded"),
    "server_error": Failure(500, "500", "Internal Server Error"),
    "stream_error": Failure(200, "502", "Provider returned error"),
}

#: vLLM's OpenAI server (FastAPI): error types named after the status.
_VLLM_FAILURES = {
    "invalid_api_key": Failure(401, "Unauthorized", "Unauthorized"),
    "stream_required": Failure(400, "BadRequestError", "stream must be true"),
    "invalid_parameter": Failure(400, "BadRequestError", "Invalid request parameters"),
    "data_inspection_failed": Failure(400, "BadRequestError", "Refused by the server"),
    "free_tier_only": Failure(403, "Forbidden", "Forbidden"),
    "model_not_found": Failure(404, "NotFoundError", "The model does not exist."),
    "rate_limit": Failure(429, "TooManyRequests", "Too many requests"),
    "server_error": Failure(500, "InternalServerError", "Internal server error"),
    "stream_error": Failure(200, "InternalServerError", "Internal server error"),
}

_ZHIPU_MODELS = ("glm-5.2", "glm-5.1", "glm-5", "glm-4.7", "glm-4.6", "glm-4.5", "glm-4.5-air")

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "dashscope",
            "/compatible-mode/v1",
            _dashscope_thinking,
            "reasoning_content",
            tuple(wire.MAX_ANSWER_TOKENS),
            refuses_json_while_thinking=True,
        ),
        Dialect(
            "zhipu",
            "/api/paas/v4",
            _zhipu_thinking,
            "reasoning_content",
            _ZHIPU_MODELS,
            _ZHIPU_FAILURES,
        ),
        Dialect(
            "zai",
            "/api/paas/v4",
            _zhipu_thinking,
            "reasoning_content",
            _ZHIPU_MODELS,
            {
                **_ZHIPU_FAILURES,
                "model_not_found": Failure(
                    400, "1211", "Unknown Model, please check the model code."
                ),
            },
            lead_newline=True,
        ),
        _OpenRouter(
            "openrouter",
            "/api/v1",
            _openrouter_thinking,
            "reasoning",
            ("z-ai/glm-5.2", "z-ai/glm-5.1", "z-ai/glm-5", "z-ai/glm-4.5", "qwen/qwen3-max"),
            _OPENROUTER_FAILURES,
        ),
        _VLLM(
            "vllm",
            "/v1",
            _vllm_thinking,
            "reasoning",
            ("zai-org/GLM-4.5-Air",),
            _VLLM_FAILURES,
            lead_newline=True,
        ),
    )
}


def get(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; use one of {sorted(DIALECTS)}") from None

"""What every provider dialect has in common, and the one reader of error bodies.

A provider module (one per dialect in this package) makes one
:class:`Provider` and names it ``PROVIDER``. The request asks it where
thinking and the non-OpenAI sampling parameters go; the client asks it how to
read an error body; settings ask it for its base URL, key variable and
default model. Standard library only, so choosing a provider costs nothing
at ``%load_ext``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Source:
    """Where a fact was read, and the date the page showed (or was read)."""

    url: str
    as_of: str


@dataclass(frozen=True)
class ProviderError:
    """A provider's error body, read: its code (if any) and message."""

    code: str | None
    message: str | None
    request_id: str | None = None


@dataclass(frozen=True)
class Provider:
    """One OpenAI-compatible dialect of serving GLM.

    ``hosts`` are the host names (or, with a leading dot, host suffixes) its
    base URLs use, so a base URL names its provider. ``default_model`` None
    means "the first model the server lists" (a self-hosted server serves
    what it was started with). ``json_while_thinking`` False: the provider
    refuses JSON mode while thinking, so JSON mode sends thinking off unless
    the user asked for it. ``states_default`` True: the provider's own default
    is not documented, so the model's default (from the catalogue) is sent
    for a known model. ``switch`` says in a few words how thinking is
    switched, for ``%glm providers``.
    """

    name: str
    title: str
    base_url: str
    key_variable: str
    default_model: str | None
    hosts: tuple[str, ...]
    switch: str
    setup: str
    key_required: bool = True
    json_while_thinking: bool = True
    states_default: bool = False
    sources: tuple[Source, ...] = ()

    def thinking_fields(self, on: bool) -> dict[str, Any]:
        """The request fields that turn thinking on or off (sent in ``extra_body``)."""
        raise NotImplementedError

    def extra_body(self, thinking: bool | None, extras: Mapping[str, Any]) -> dict[str, Any]:
        """Every non-OpenAI field of a request: the option spec's ``extra``
        parameters (``top_k``, ``repetition_penalty``) and the thinking switch,
        only when ``thinking`` is not None."""
        body = dict(extras)
        if thinking is not None:
            body.update(self.thinking_fields(thinking))
        return body

    def thinking_to_send(
        self, asked: bool | None, json_mode: bool, default: bool | None = None
    ) -> bool | None:
        """The thinking switch to send (None: send none).

        The user's choice; else off in JSON mode on a provider that refuses JSON
        while thinking; else the model's ``default`` where the provider needs
        it stated; else nothing, so the provider's own default applies.
        """
        if asked is not None:
            return asked
        if json_mode and not self.json_while_thinking:
            return False
        return default if self.states_default else None

    def serves(self, base_url: str) -> bool:
        """Whether ``base_url``'s host is one of this provider's."""
        host = (urlsplit(base_url).hostname or "").lower()
        return any(host == h or (h.startswith(".") and host.endswith(h)) for h in self.hosts)

    def read_error(self, body: Any) -> ProviderError:
        """The code and message in an error body of any shape this provider sends."""
        return read_error(body)

    def model_missing(self, error: ProviderError, status: int | None) -> bool:
        """Whether ``error`` says the model does not exist (here: the OpenAI code)."""
        return error.code == "model_not_found"


def read_error(body: Any) -> ProviderError:
    """Code, message and request id from an error body, whatever its shape.

    Shapes seen from the providers (each module cites its own):
    ``{"error": {"code", "message", ...}, "request_id"}`` (OpenAI, DashScope,
    Zhipu, Z.ai; codes are text or numbers); ``{"object": "error", "message",
    "type", "code": 404}`` (vLLM); ``{"error": "Unauthorized"}`` (a bare
    string); an OpenRouter error whose ``metadata.raw`` holds the upstream
    provider's own body; and a body (or message) that is itself one SSE line,
    ``data: {"error": {...}}``, as DashScope answers some refusals.
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        parsed = _parse_text(body)
        if parsed is None:
            return ProviderError(None, body.strip() or None)
        body = parsed
    if not isinstance(body, dict):
        return ProviderError(None, None)
    request_id = _text(body.get("request_id"))
    error = body.get("error", body)
    if isinstance(error, str):
        inner = read_error(error) if _parse_text(error) is not None else None
        if inner is not None and (inner.code or inner.message):
            return ProviderError(inner.code, inner.message, inner.request_id or request_id)
        return ProviderError(None, error, request_id)
    if not isinstance(error, dict):
        return ProviderError(None, None, request_id)
    message = _text(error.get("message")) or _text(error.get("msg"))
    metadata = error.get("metadata")
    raw = metadata.get("raw") if isinstance(metadata, dict) else None
    for wrapped in (raw, message):
        if isinstance(wrapped, str) and _parse_text(wrapped) is not None:
            inner = read_error(wrapped)
            if inner.code or inner.message:
                upstream = metadata.get("provider_name") if isinstance(metadata, dict) else None
                text = inner.message or message
                if upstream and wrapped is raw:
                    text = f"{upstream}: {text}"
                return ProviderError(inner.code, text, inner.request_id or request_id)
    code = error.get("code")
    if code is None or isinstance(code, int):
        kind = _text(error.get("type"))
        code = kind if kind else (str(code) if code is not None else None)
    return ProviderError(_text(code), message, request_id)


def _parse_text(text: str) -> Any:
    """JSON in ``text``: a JSON document, or the first ``data:`` line of an SSE body."""
    stripped = text.strip()
    if stripped.startswith("data:"):
        stripped = stripped[5:].split("\n", 1)[0].strip()
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None

"""OpenRouter: GLM among many models, routed to an upstream provider.

Wire facts (read 2026-12-01):

- Base URL ``https://openrouter.ai/api/v1``; key in ``OPENROUTER_API_KEY``;
  GLM ids carry the maker's prefix (``z-ai/glm-5.1``). Source:
  https://openrouter.ai/z-ai/glm-4.5/providers (2026).
- Thinking: ``reasoning: {"enabled": true | false}`` (also ``effort`` or
  ``max_tokens``); thinking arrives in ``delta.reasoning`` (some upstreams
  add ``reasoning_content``) and is billed as output. Source:
  https://openrouter.ai/docs/use-cases/reasoning-tokens (2026).
- Errors: ``{"error": {"message", "code": <HTTP status as a number>,
  "metadata": {"raw": <the upstream's own body>, "provider_name"}}}``; a
  DashScope refusal arrives as ``"message": "Provider returned error"`` with
  ``raw`` ``data: {"error": {"code": "data_inspection_failed", ...}}``
  (captured verbatim in public test fixtures, 2026-09). An unknown model id is
  refused with HTTP 400 "... is not a valid model ID" (assumed wording).
"""

from __future__ import annotations

from typing import Any

from .base import Provider, ProviderError, Source


class OpenRouter(Provider):
    def thinking_fields(self, on: bool) -> dict[str, Any]:
        return {"reasoning": {"enabled": on}}

    def model_missing(self, error: ProviderError, status: int | None) -> bool:
        text = (error.message or "").lower()
        return error.code == "model_not_found" or "not a valid model" in text


PROVIDER = OpenRouter(
    name="openrouter",
    title="OpenRouter",
    base_url="https://openrouter.ai/api/v1",
    key_variable="OPENROUTER_API_KEY",
    default_model="z-ai/glm-5.1",
    hosts=("openrouter.ai",),
    switch='reasoning: {"enabled": true/false}',
    setup="export OPENROUTER_API_KEY=sk-or-...  GLM_MAGIC_PROVIDER=openrouter",
    sources=(Source("https://openrouter.ai/docs/use-cases/reasoning-tokens", "2026"),),
)

"""Your own server: vLLM or SGLang, serving GLM weights behind the OpenAI API.

Wire facts (read 2026-12-01):

- Base URL ``http://localhost:8000/v1`` (vLLM's default); a key only if the
  server was started with ``--api-key`` (``VLLM_API_KEY``); the model is the
  one the server was started with, so the default is the first one
  ``GET /models`` lists. Source: https://docs.vllm.ai/en/stable/features/reasoning_outputs/ (2026).
- Thinking: ``chat_template_kwargs: {"enable_thinking": true | false}``, read
  by GLM's chat template (vLLM's ``glm45`` reasoning parser; SGLang likewise).
  Sources: https://docs.vllm.ai/en/v0.11.2/api/vllm/reasoning/glm4_moe_reasoning_parser/
  and https://docs.sglang.io/docs/advanced_features/separate_reasoning (2026).
- Thinking arrives in ``delta.reasoning`` (vLLM 0.11 on; before:
  ``reasoning_content``, which SGLang still uses). GLM-4.5 streams may send
  an answer piece ``"\\n"`` before the thinking
  (https://github.com/vllm-project/vllm/issues/23479, 2025-08-24).
- Errors: ``{"object": "error", "message": "The model `x` does not exist.",
  "type": "NotFoundError", "param": null, "code": 404}`` (quoted in
  https://github.com/THUDM/LongBench/issues/102); a wrong key gets 401
  ``{"error": "Unauthorized"}`` (vLLM's API-key middleware).
"""

from __future__ import annotations

from typing import Any

from .base import Provider, ProviderError, Source


class VLLM(Provider):
    def thinking_fields(self, on: bool) -> dict[str, Any]:
        return {"chat_template_kwargs": {"enable_thinking": on}}

    def model_missing(self, error: ProviderError, status: int | None) -> bool:
        return error.code in ("NotFoundError", "model_not_found") or (
            status == 404 and "does not exist" in (error.message or "")
        )


PROVIDER = VLLM(
    name="vllm",
    title="vLLM or SGLang (your own server)",
    base_url="http://localhost:8000/v1",
    key_variable="VLLM_API_KEY",
    default_model=None,
    hosts=(),
    switch='chat_template_kwargs: {"enable_thinking": true/false}',
    setup="export GLM_MAGIC_PROVIDER=vllm GLM_MAGIC_BASE_URL=http://HOST:8000/v1",
    key_required=False,
    sources=(Source("https://docs.vllm.ai/en/stable/features/reasoning_outputs/", "2026"),),
)

"""Zhipu AI's own API (open.bigmodel.cn, BigModel).

Wire facts (read 2026-12-01):

- Base URL ``https://open.bigmodel.cn/api/paas/v4``; key in
  ``ZHIPUAI_API_KEY`` (the variable Zhipu's SDK and agent frameworks read).
  Source: https://java.agentscope.io/v2/en/integration/model/glm (2026).
- Thinking: ``thinking: {"type": "enabled" | "disabled"}``; GLM-4.5 and later
  think by default (GLM-4.7 and GLM-5 always unless disabled). Zhipu ignores
  ``enable_thinking``. Source: https://docs.bigmodel.cn GLM-4.5 page (2026)
  and https://docs.z.ai/guides/capabilities/thinking-mode (2026).
- Thinking arrives in ``delta.reasoning_content``; every delta repeats
  ``"role": "assistant"``; usage comes in a last chunk with empty
  ``choices``. Source: a glm-4.6 stream captured from open.bigmodel.cn in a
  public Go test fixture (chunk ids dated 2026-02-10).
- Errors: ``{"error": {"code": "1211", "message": "模型不存在，请检查模型代码。"}}``
  with HTTP 400 for an unknown model (numeric codes as text: 1211 unknown
  model, 1113 account in arrears, 1301 unsafe content, 1302/1305 rate
  limits). Source: https://docs.z.ai/api-reference/api-code (2026) and
  responses quoted verbatim in public projects (2026-09).
"""

from __future__ import annotations

from typing import Any

from .base import Provider, ProviderError, Source

#: Zhipu's (and Z.ai's) code for "model does not exist".
UNKNOWN_MODEL = "1211"


class Zhipu(Provider):
    def thinking_fields(self, on: bool) -> dict[str, Any]:
        return {"thinking": {"type": "enabled" if on else "disabled"}}

    def model_missing(self, error: ProviderError, status: int | None) -> bool:
        return error.code in (UNKNOWN_MODEL, "model_not_found")


PROVIDER = Zhipu(
    name="zhipu",
    title="Zhipu AI BigModel (open.bigmodel.cn)",
    base_url="https://open.bigmodel.cn/api/paas/v4",
    key_variable="ZHIPUAI_API_KEY",
    default_model="glm-5.1",
    hosts=("open.bigmodel.cn",),
    switch='thinking: {"type": "enabled"/"disabled"}',
    setup="export ZHIPUAI_API_KEY=...  GLM_MAGIC_PROVIDER=zhipu",
    sources=(
        Source("https://docs.z.ai/guides/capabilities/thinking-mode", "2026"),
        Source("https://docs.z.ai/api-reference/api-code", "2026"),
    ),
)

"""Alibaba Cloud Model Studio (Bailian / DashScope), compatible mode: the default provider.

Wire facts (read 2026-12-01):

- Base URLs: ``https://dashscope.aliyuncs.com/compatible-mode/v1`` (China,
  Beijing), ``https://dashscope-intl.aliyuncs.com/...`` (Singapore),
  ``https://dashscope-us.aliyuncs.com/...`` (US, Virginia), and workspace
  URLs ``https://{WorkspaceId}.{region}.maas.aliyuncs.com/compatible-mode/v1``
  (cn-beijing, ap-southeast-1, us-east-1, eu-central-1, cn-hongkong).
  Source: https://help.aliyun.com/en/model-studio/glm (2026-10) and
  https://www.alibabacloud.com/help/pt-br/model-studio/glm (2026-09-02).
- Thinking: ``enable_thinking`` (not an OpenAI parameter, so ``extra_body``);
  ``top_k`` and ``repetition_penalty`` travel the same way. Source:
  https://www.alibabacloud.com/help/en/model-studio/glm (2026-02-04).
- Thinking arrives in ``delta.reasoning_content``; usage in a last chunk with
  empty ``choices`` when ``stream_options.include_usage`` is set; GLM answers
  streams only. Source: Model Studio "Deep thinking" and "Streaming output"
  pages (alibabacloud.com/help/en/model-studio/deep-thinking, .../stream).
- JSON mode is refused while thinking ("Json mode response is not supported
  when enable_thinking is true"), and glm-5 has no structured output. Source:
  https://help.aliyun.com/zh/model-studio/error-code and
  https://help.aliyun.com/zh/model-studio/glm-9 (2026).
- No page says what GLM does when ``enable_thinking`` is left out (every
  sample sends it, and DashScope's hybrid Qwen models default to off), so a
  known GLM is sent its own default, thinking on.
- Errors: ``{"error": {"message", "type", "param", "code"}, "request_id"}``,
  ``model_not_found`` for an unknown model (404); a refused input may come
  back as a 400 whose body is one SSE line, ``data: {"error": {"code":
  "data_inspection_failed", ...}}`` (quoted verbatim in public test fixtures
  of agent projects, 2026-09).
"""

from __future__ import annotations

from typing import Any

from .base import Provider, Source


class DashScope(Provider):
    def thinking_fields(self, on: bool) -> dict[str, Any]:
        return {"enable_thinking": on}


PROVIDER = DashScope(
    name="dashscope",
    title="Alibaba Cloud Model Studio (DashScope)",
    base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
    key_variable="DASHSCOPE_API_KEY",
    default_model="glm-5",
    hosts=(
        "dashscope.aliyuncs.com",
        ".dashscope.aliyuncs.com",
        "dashscope-intl.aliyuncs.com",
        "dashscope-us.aliyuncs.com",
        ".maas.aliyuncs.com",
    ),
    switch="enable_thinking: true/false",
    setup="export DASHSCOPE_API_KEY=sk-...  (other regions: GLM_MAGIC_BASE_URL=https://dashscope-intl.aliyuncs.com/compatible-mode/v1)",
    json_while_thinking=False,
    states_default=True,
    sources=(
        Source("https://www.alibabacloud.com/help/en/model-studio/glm", "2026-02-04"),
        Source("https://help.aliyun.com/en/model-studio/glm", "2026-10"),
    ),
)

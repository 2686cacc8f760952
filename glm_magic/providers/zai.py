"""Z.ai, Zhipu's international API: Zhipu's dialect at another address.

Wire facts (read 2026-12-01): base URL ``https://api.z.ai/api/paas/v4``, key
in ``ZAI_API_KEY``; thinking ``thinking: {"type": "enabled" | "disabled"}``
(on by default from GLM-4.7); thinking in ``delta.reasoning_content``; errors
``{"error": {"code": "1211", "message": "Unknown Model, please check the model
code."}}`` with HTTP 400. Sources:
https://docs.z.ai/guides/capabilities/thinking-mode (2026),
https://docs.z.ai/api-reference/api-code (2026),
https://preview.hex.pm/preview/req_llm/1.10.0/show/guides/zai.md (ZAI_API_KEY,
/api/paas/v4), and the 1211 response quoted verbatim in public projects
(2026-09). GLM servers may send an answer piece ``"\\n"`` before the thinking
starts (https://github.com/vllm-project/vllm/issues/23479, GLM-4.5-Air,
2025-08-24); the client holds such a piece back (see glm_magic.client).
"""

from __future__ import annotations

from .base import Source
from .zhipu import Zhipu

PROVIDER = Zhipu(
    name="zai",
    title="Z.ai (api.z.ai)",
    base_url="https://api.z.ai/api/paas/v4",
    key_variable="ZAI_API_KEY",
    default_model="glm-5.1",
    hosts=("api.z.ai",),
    switch='thinking: {"type": "enabled"/"disabled"}',
    setup="export ZAI_API_KEY=...  GLM_MAGIC_PROVIDER=zai",
    sources=(
        Source("https://docs.z.ai/guides/capabilities/thinking-mode", "2026"),
        Source("https://docs.z.ai/api-reference/api-code", "2026"),
    ),
)

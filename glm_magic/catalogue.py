"""What public pages say about each GLM model, per provider, with source and date.

Request checks (max answer, max input), thinking defaults, dry-run estimates
and ``%glm models`` all read this table, so a fact changes in one place. A
fact no public page confirms is None: no local check is made on it, and the
provider decides. Model ids that are not listed pass through unchecked (they
may be served by another OpenAI-compatible server that knows its own rules).

Keeping it true: each fact names the page it was read from and the page's
date. ``%glm models`` puts the table next to what the provider's ``GET
/models`` lists today and marks listed models the provider no longer serves,
which is the cue to re-read the pages and update this file. Prices and rate
limits are kept by the store and pacing modules, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .providers.base import Source

#: Model Studio gives each model this many free tokens (new users).
FREE_QUOTA_TOKENS = 1_000_000

# -- sources ----------------------------------------------------------------------------
DS_EN = Source("https://www.alibabacloud.com/help/en/model-studio/glm", "2026-02-04")
DS_EN_2025 = Source("https://www.alibabacloud.com/help/en/model-studio/glm", "2025-08")
DS_GLM5 = Source("https://help.aliyun.com/zh/model-studio/glm-9", "2026-03")
DS_EN_OCT = Source("https://help.aliyun.com/en/model-studio/glm", "2026-10")
DS_PT = Source("https://www.alibabacloud.com/help/pt-br/model-studio/glm", "2026-09-02")
ZHIPU_45 = Source("https://docs.bigmodel.cn/cn/guide/models/text/glm-4.5", "2026")
ZHIPU_51 = Source("https://docs.bigmodel.cn/cn/guide/models/text/glm-5.1", "2026")
ZAI_THINKING = Source("https://docs.z.ai/guides/capabilities/thinking-mode", "2026")
GLM5_README = Source("https://github.com/zai-org/GLM-5/blob/main/README.md", "2026-06")
OR_45 = Source("https://openrouter.ai/z-ai/glm-4.5/providers", "2026")


@dataclass(frozen=True)
class ModelInfo:
    """One model on one provider. Token limits are None where no page confirms them.

    ``thinking`` is whether it thinks when not told; ``temperature`` its
    default temperature; ``status`` what the provider announced (delisting).
    ``sources`` maps each fact's name to where it was read.
    """

    name: str
    provider: str
    context: int | None = None
    max_input: int | None = None
    max_thinking: int | None = None
    max_answer: int | None = None
    temperature: float | None = None
    thinking: bool = True
    function_calling: bool | None = None
    json_mode: bool | None = None
    free_tokens: int | None = None
    status: str = ""
    note: str = ""
    sources: Mapping[str, Source] = field(default_factory=dict, compare=False, hash=False)


def _model(name: str, provider: str, *facts: tuple[Source, dict[str, Any]]) -> ModelInfo:
    """A catalogue entry from groups of facts, each group read from one source."""
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for source, group in facts:
        values.update(group)
        sources.update(dict.fromkeys(group, source))
    return ModelInfo(name, provider, sources=sources, **values)


_DS_LIMITS = {
    "context": 202_752,
    "max_input": 169_984,
    "max_thinking": 32_768,
    "max_answer": 16_384,
}
_DS_45_LIMITS = {
    "context": 131_072,
    "max_input": 98_304,
    "max_thinking": 32_768,
    "max_answer": 16_384,
}
_ROUNDED_51 = {"note": "200K context, up to 128K output (rounded)"}
_ROUNDED_45 = {"note": "128K context, up to 96K output (rounded)"}
_FREE = {"free_tokens": FREE_QUOTA_TOKENS}
_DELISTING = {
    "status": "delisting announced: 2026-10-10 (en page), 2026-07-09 (pt-br page)",
}

CATALOGUE: tuple[ModelInfo, ...] = (
    # -- dashscope --
    _model(
        "glm-5",
        "dashscope",
        (DS_GLM5, {**_DS_LIMITS, "function_calling": True, "json_mode": False}),
        (DS_EN_OCT, _FREE),
    ),
    _model("glm-4.7", "dashscope", (DS_EN, _DS_LIMITS), (DS_EN_OCT, {**_FREE, **_DELISTING})),
    _model(
        "glm-4.6",
        "dashscope",
        (DS_EN, _DS_LIMITS),
        (DS_EN_2025, {"temperature": 1.0}),
        (DS_EN_OCT, {**_FREE, **_DELISTING}),
    ),
    _model(
        "glm-4.5",
        "dashscope",
        (DS_EN_2025, {**_DS_45_LIMITS, "temperature": 0.6}),
        (DS_EN, {"status": "no longer on the 2026 pages"}),
        (DS_EN_2025, _FREE),
    ),
    _model(
        "glm-4.5-air",
        "dashscope",
        (DS_EN_2025, {**_DS_45_LIMITS, "temperature": 0.6}),
        (DS_EN, {"status": "no longer on the 2026 pages"}),
        (DS_EN_2025, _FREE),
    ),
    _model("glm-5.2", "dashscope", (DS_EN_OCT, {"note": "served; limits not published"})),
    # -- zhipu and zai: the same models; the pages give rounded sizes only --
    *(
        entry
        for provider in ("zhipu", "zai")
        for entry in (
            _model("glm-5.2", provider, (GLM5_README, {"note": "1M context (rounded)"})),
            _model("glm-5.1", provider, (ZHIPU_51, _ROUNDED_51)),
            _model("glm-5", provider, (ZAI_THINKING, {"note": "thinks unless disabled"})),
            _model("glm-4.7", provider, (ZAI_THINKING, {"note": "thinks unless disabled"})),
            _model("glm-4.6", provider, (ZAI_THINKING, {"note": "hybrid thinking"})),
            _model("glm-4.5", provider, (ZHIPU_45, _ROUNDED_45)),
            _model("glm-4.5-air", provider, (ZHIPU_45, _ROUNDED_45)),
        )
    ),
    # -- openrouter: the maker's prefix on every id --
    _model("z-ai/glm-5.2", "openrouter", (GLM5_README, {"note": "1M context (rounded)"})),
    _model("z-ai/glm-5.1", "openrouter", (ZHIPU_51, {"note": "200K context (rounded)"})),
    _model("z-ai/glm-5", "openrouter", (ZAI_THINKING, {"note": "thinks unless disabled"})),
    _model("z-ai/glm-4.5", "openrouter", (OR_45, {"context": 131_072})),
)

_BY_KEY: dict[tuple[str, str], ModelInfo] = {(m.provider, m.name): m for m in CATALOGUE}


def model_info(name: str, provider: str = "dashscope") -> ModelInfo | None:
    """What the catalogue knows of ``name`` on ``provider``, or None for an unknown id."""
    return _BY_KEY.get((provider, name))


def models_of(provider: str) -> list[ModelInfo]:
    """The catalogue's models on ``provider``, newest first."""
    return [m for m in CATALOGUE if m.provider == provider]


def is_glm(model_id: str) -> bool:
    """Whether a served model id is a GLM (``glm-5``, ``z-ai/glm-5.1``, ``zai-org/GLM-5``)."""
    return "glm" in model_id.lower()

"""What the provider documents about each GLM model, in one table.

Validation of cell options, request defaults and ``%glm models`` all read this
table, so a limit changes in exactly one place. Model ids that are not listed
pass through with no local limits: they may live on another OpenAI-compatible
server that knows its own rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wording import text_table

CHINA_ENDPOINT = "https://dashscope.aliyuncs.com/compatible-mode/v1"
DEFAULT_MODEL = "glm-4.6"
FREE_QUOTA_TOKENS = 1_000_000


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context: int
    max_input: int
    max_thinking: int
    max_answer: int
    temperature: float
    top_p: float = 0.95
    top_k: int = 20
    repetition_penalty: float = 1.0
    thinking: bool = True
    free_tokens: int = FREE_QUOTA_TOKENS


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo("glm-4.6", 202_752, 169_984, 32_768, 16_384, 1.0),
        ModelInfo("glm-4.5", 131_072, 98_304, 32_768, 16_384, 0.6),
        ModelInfo("glm-4.5-air", 131_072, 98_304, 32_768, 16_384, 0.6),
    )
}


def model_info(name: str) -> ModelInfo | None:
    """The documented limits for ``name``, or None for a model we know nothing about."""
    return MODELS.get(name)


def models_table() -> str:
    """The model table as aligned plain text, for ``%glm models``."""
    header = ("model", "context", "max input", "max thinking", "max answer", "temperature")
    rows = [header] + [
        (
            m.name,
            f"{m.context:,}",
            f"{m.max_input:,}",
            f"{m.max_thinking:,}",
            f"{m.max_answer:,}",
            f"{m.temperature}",
        )
        for m in MODELS.values()
    ]
    note = (
        "All: thinking on by default, top_p 0.95, top_k 20, streaming only, "
        f"{FREE_QUOTA_TOKENS:,} free tokens each. Other model ids pass through unchecked."
    )
    return f"{text_table(rows)}\n\n{note}"

"""The model catalogue: the SPEC's facts, each with its source, and nothing guessed."""

from __future__ import annotations

from dataclasses import fields

import pytest

from glm_magic import providers
from glm_magic.catalogue import CATALOGUE, model_info, models_of
from glm_magic.request import Options, check_options

FACTS = [f.name for f in fields(CATALOGUE[0]) if f.name not in ("name", "provider", "sources")]


def test_dashscopes_table_is_the_providers_2026_pages():
    for name in ("glm-5", "glm-4.7", "glm-4.6"):
        info = model_info(name, "dashscope")
        assert (info.context, info.max_input, info.max_thinking, info.max_answer) == (
            202_752,
            169_984,
            32_768,
            16_384,
        )
    for name in ("glm-4.5", "glm-4.5-air"):
        info = model_info(name, "dashscope")
        assert (info.context, info.max_input, info.temperature) == (131_072, 98_304, 0.6)
        assert "no longer on the 2026 pages" in info.status
    assert model_info("glm-4.6", "dashscope").temperature == 1.0
    assert "delisting announced" in model_info("glm-4.7", "dashscope").status
    glm5 = model_info("glm-5", "dashscope")
    assert (glm5.function_calling, glm5.json_mode, glm5.free_tokens) == (True, False, 1_000_000)


def test_every_fact_set_names_its_source_and_date():
    for info in CATALOGUE:
        for name in FACTS:
            value = getattr(info, name)
            if value not in (None, "", True):
                source = info.sources.get(name)
                assert source is not None, f"{info.provider}/{info.name}.{name} has no source"
                assert source.url.startswith("https://") and source.as_of[:4].isdigit()


def test_what_no_page_confirms_stays_unknown_and_is_not_checked():
    info = model_info("glm-5.1", "zhipu")
    assert (info.context, info.max_input, info.max_answer) == (None, None, None)
    check_options("glm-5.1", Options(max_tokens=100_000), "zhipu")


@pytest.mark.parametrize("provider", [p for p in providers.all_providers() if p.default_model])
def test_each_providers_default_model_is_one_it_serves(provider):
    assert provider.default_model in [m.name for m in models_of(provider.name)]


def test_limits_differ_per_provider_and_unknown_ids_pass_through():
    assert model_info("glm-4.6", "dashscope").max_answer == 16_384
    assert model_info("glm-4.6", "zai").max_answer is None
    assert model_info("my-model", "dashscope") is None
    assert model_info("z-ai/glm-4.5", "openrouter").context == 131_072

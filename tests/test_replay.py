"""Providers' real bytes, replayed: what other projects captured, read by our client.

Each capture in ``tests/data/captures`` (sources in its README) is served
verbatim by the fake (``Canned``) and read by the real openai SDK and our
client, in the dialect of the provider that sent it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run

import glm_magic
from glm_magic.testing import Canned

CAPTURES = Path(__file__).parent / "data" / "captures"


def capture(name: str, status: int = 200) -> Canned:
    body = (CAPTURES / name).read_bytes()
    kind = "application/json" if name.endswith(".json") else "text/event-stream;charset=UTF-8"
    return Canned(body, status=status, content_type=kind)


def test_a_400_whose_body_is_an_sse_line_gives_the_code_and_message(ip, glm_server, capsys):
    glm_server.queue(capture("dashscope_400_data_inspection.sse", status=400))
    run(ip, "%%glm\nhi")
    out = capsys.readouterr().out
    result = ip.user_ns["_glm"]
    assert result.error_code == "data_inspection_failed"
    assert result.error.startswith(
        "HTTP 400 [data_inspection_failed] Input text data may contain inappropriate content."
    )
    assert "data:" not in result.error
    assert result.error in out


@pytest.mark.parametrize("glm_provider", ["openrouter"], indirect=True)
def test_openrouter_passes_the_upstream_refusal_on(on_provider, ip):
    on_provider.queue(capture("openrouter_400_upstream_refusal.json", status=400))
    result = glm_magic.complete("hi")
    assert result.error_code == "data_inspection_failed"
    assert "Alibaba: Input image data may contain inappropriate content." in result.error
    assert "Provider returned error" not in result.error


@pytest.mark.parametrize("glm_provider", ["zhipu"], indirect=True)
def test_zhipus_unknown_model_answer_lists_its_models(on_provider, ip):
    on_provider.queue(capture("zhipu_400_unknown_model.json", status=400))
    result = glm_magic.complete("hi", model="glm-5.1")
    assert result.error_code == "1211"
    assert "模型不存在" in result.error
    assert "GLM models it lists: glm-5.2, glm-5.1, glm-5" in result.error


@pytest.mark.parametrize("glm_provider", ["zhipu"], indirect=True)
def test_a_zhipu_stream_is_read_and_the_model_is_the_one_the_chunks_name(on_provider, ip):
    on_provider.models = frozenset({"glm-latest"})
    on_provider.queue(capture("zhipu_glm-4.6_stream.sse"))
    result = glm_magic.complete("你好，你是谁", model="glm-latest")
    assert result.complete and result.finish_reason == "stop"
    assert result.model == "glm-4.6", "the model that answered, not the alias asked for"
    assert result.thinking == "\n1.  **分析用户的查询："
    # An answer that starts with a newline after the thinking keeps it.
    assert result.answer == "\n你好！\n\n我是一个大型语言模型"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (9, 1024)


@pytest.mark.parametrize("glm_provider", ["vllm"], indirect=True)
def test_a_newline_answer_before_the_thinking_prints_no_empty_answer(on_provider, ip, capsys):
    on_provider.models = frozenset({"GLM-4.5-Air"})
    on_provider.queue(capture("vllm_glm-4.5-air_newline_first.sse"))
    run(ip, "%%glm\nHi")
    out = capsys.readouterr().out
    assert out.index("Thinking:\nThe user says hi.") < out.index("Answer:")
    assert out.count("Answer:") == 1
    result = ip.user_ns["_glm"]
    assert result.answer == "Hello! How can I assist you today?"
    assert result.thinking == "The user says hi."


def test_tool_call_pieces_at_index_minus_one_with_null_ids_still_make_one_call(ip, glm_server):
    calls = []

    def lookup(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return "sunny"

    glm_server.queue(capture("tool_calls_index_minus_one.sse"))
    result = glm_magic.complete("Weather in Lyon?", model="glm-4.6", tools=[lookup])
    assert calls == ["Lyon"]
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_1", "lookup", {"city": "Lyon"})
    ]
    assert result.complete and result.answer == "Tool results: lookup -> sunny"

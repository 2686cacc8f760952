"""From options to one checked request: the model table decides what is allowed and sent."""

from __future__ import annotations

import pytest

import glm_magic
from glm_magic.catalogue import model_info, models_of
from glm_magic.errors import GLMUsageError
from glm_magic.request import (
    Options,
    Request,
    build_request,
    check_options,
    estimate_tokens,
    message_tokens,
)

#: The DashScope models whose limits the pages publish.
KNOWN = sorted(m.name for m in models_of("dashscope") if m.max_answer)


@pytest.mark.parametrize("model", KNOWN)
def test_max_tokens_up_to_the_models_max_answer_is_accepted(model):
    check_options(model, Options(max_tokens=model_info(model).max_answer))


@pytest.mark.parametrize("model", KNOWN)
def test_max_tokens_above_the_models_max_answer_names_the_limit(model):
    limit = model_info(model).max_answer
    with pytest.raises(GLMUsageError, match=f"{model}'s maximum answer length of 16,384"):
        check_options(model, Options(max_tokens=limit + 1))


def test_an_unknown_model_has_no_local_token_limit():
    check_options("my-model", Options(max_tokens=1_000_000))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (Options(temperature=2.0), "--temperature must be at least 0 and below 2"),
        (Options(temperature=-0.1), "--temperature"),
        (Options(top_p=0.0), "--top-p must be above 0 and at most 1"),
        (Options(top_p=1.01), "--top-p"),
        (Options(top_k=-1), "--top-k must be 0 or more"),
        (Options(max_tokens=0), "--max-tokens must be at least 1"),
        (Options(seed=-1), "--seed"),
        (Options(stop=[""]), "--stop needs non-empty text"),
        (Options(repetition_penalty=0.0), "--repetition-penalty must be above 0"),
    ],
)
def test_out_of_range_values_are_refused_for_every_model(options, message):
    for model in [*KNOWN, "my-model"]:
        with pytest.raises(GLMUsageError, match=message):
            check_options(model, options)


def test_edge_values_inside_the_ranges_are_accepted():
    check_options(
        "glm-4.6",
        Options(temperature=0.0, top_p=1.0, top_k=0, max_tokens=1, seed=0, stop=["x"]),
    )
    check_options("glm-4.6", Options(temperature=1.99, top_p=1e-6, seed=2**31 - 1))


def test_an_empty_prompt_is_refused():
    with pytest.raises(GLMUsageError, match="The prompt is empty"):
        build_request("  \n ", "glm-4.6", Options())


def test_build_request_checks_the_options_too():
    with pytest.raises(GLMUsageError, match="--top-p"):
        build_request("hi", "glm-4.6", Options(top_p=0))


def test_the_system_prompt_is_the_first_message():
    request = build_request("hi", "glm-4.6", Options(system="Be brief."))
    assert request.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert build_request("hi", "glm-4.6", Options()).messages == [{"role": "user", "content": "hi"}]


def test_a_default_request_streams_with_usage_and_leaves_sampling_to_the_provider():
    body = build_request("hi", "glm-4.6", Options()).body()
    assert body == {
        "model": "glm-4.6",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "extra_body": {"enable_thinking": True},
    }


def test_openai_parameters_go_in_the_body_and_the_others_in_extra_body():
    options = Options(
        thinking=False,
        temperature=0.3,
        top_p=0.8,
        top_k=5,
        max_tokens=100,
        seed=7,
        stop=["END", "STOP"],
        repetition_penalty=1.1,
    )
    body = build_request("hi", "glm-4.5", options).body()
    assert {k: body[k] for k in ("temperature", "top_p", "max_tokens", "seed", "stop")} == {
        "temperature": 0.3,
        "top_p": 0.8,
        "max_tokens": 100,
        "seed": 7,
        "stop": ["END", "STOP"],
    }
    assert body["extra_body"] == {"enable_thinking": False, "top_k": 5, "repetition_penalty": 1.1}
    assert "top_k" not in body
    assert "enable_thinking" not in body


def test_an_unknown_model_gets_no_thinking_flag_unless_asked():
    assert "extra_body" not in build_request("hi", "my-model", Options()).body()
    body = build_request("hi", "my-model", Options(thinking=True, top_k=3)).body()
    assert body["extra_body"] == {"enable_thinking": True, "top_k": 3}


def test_thinking_follows_the_choice_else_the_models_default():
    assert Request("glm-4.6", []).thinking is True
    assert Request("glm-4.6", [], Options(thinking=False)).thinking is False
    assert Request("my-model", []).thinking is True


def test_options_split_from_keyword_arguments():
    options, rest = Options.from_kwargs({"model": "glm-4.5", "top_k": 3, "colour": "red"})
    assert (options.model, options.top_k) == ("glm-4.5", 3)
    assert rest == {"colour": "red"}


def test_the_estimate_counts_cjk_characters_as_tokens_and_other_text_by_thirds():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdef") == 2
    assert estimate_tokens("abcdefg") == 3
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("こんにちは, world") == 5 + 3
    messages = [{"role": "user", "content": "abcdef"}, {"role": "assistant", "content": None}]
    assert message_tokens(messages) == 2 + 4 + 0 + 4


def test_one_prompt_surely_over_the_max_input_is_refused_before_sending():
    with pytest.raises(GLMUsageError, match=r"too long for glm-4\.5: 600,006 characters"):
        build_request("x" * 600_006, "glm-4.5", Options())
    build_request("x" * 500_000, "glm-4.5", Options())
    build_request("x" * 2_000_000, "my-local-model", Options())


def test_a_prompt_near_the_limit_goes_to_the_provider_which_refuses_it(ip, glm_server):
    result = glm_magic.complete("word " * 100_000, model="glm-4.5")
    assert result.error_code == "invalid_parameter_error"
    assert "Range of input length should be [1, 98304]" in result.error
    assert len(glm_server.requests) == 1

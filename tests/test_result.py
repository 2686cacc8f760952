"""The result a user gets back: text, thinking, usage, timings, and how it shows itself."""

from __future__ import annotations

import pickle

import pytest

import glm_magic
from glm_magic.events import AnswerDelta, ThinkingDelta
from glm_magic.render import bundle
from glm_magic.result import COMPACT_AT, Collector
from glm_magic.testing import Fault, Reply

THINKING = "First, 6 x 7. That is 42 <not 41> & nothing else."
ANSWER = "The answer is **42**."
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 25,
    "total_tokens": 37,
    "completion_tokens_details": {"reasoning_tokens": 19},
}


@pytest.fixture
def result(ip, glm_server):
    glm_server.queue(Reply(thinking=THINKING, answer=ANSWER, usage=USAGE, first_delay=0.1))
    return glm_magic.complete("What is 6 x 7?", model="glm-4.5")


def test_str_is_the_answer_so_results_read_like_text(result):
    assert str(result) == ANSWER
    assert result.answer == ANSWER
    assert f"Answer: {result}" == f"Answer: {ANSWER}"
    assert result.thinking == THINKING


def test_the_result_has_the_fields_the_spec_promises(result):
    assert result.model == "glm-4.5"
    assert result.usage.prompt_tokens == 12
    assert result.usage.completion_tokens == 25
    assert result.usage.total_tokens == 37
    assert result.usage.reasoning_tokens == 19
    assert result.finish_reason == "stop"
    assert result.complete is True
    assert result.error is None
    assert 0.1 <= result.time_to_first_token <= result.total_time
    assert result.timings == {
        "time_to_first_token": result.time_to_first_token,
        "total": result.total_time,
    }


def test_repr_is_short_and_has_no_key(result, glm_server):
    glm_server.queue(Reply(answer="long " * 1000))
    long = glm_magic.complete("Say a lot.")
    for r in (result, long):
        text = repr(r)
        assert len(text) < 200
        assert "\n" not in text
        assert glm_server.api_key not in text
    assert "glm-4.5" in repr(result)
    assert "37 tokens" in repr(result)


def test_a_notebook_shows_markdown_with_collapsed_thinking_answer_and_usage(ip, result):
    data, _ = ip.display_formatter.format(result)
    markdown = data["text/markdown"]
    assert markdown.index("<details>") < markdown.index("</details>") < markdown.index(ANSWER)
    details = markdown[markdown.index("<details>") : markdown.index("</details>")]
    assert "<summary>Thinking" in details
    assert "That is 42 &lt;not 41&gt; &amp; nothing else." in details  # escaped, not HTML
    assert "12 in / 25 out (19 thinking)" in markdown
    assert "glm-4.5" in markdown
    assert data["text/plain"] == repr(result)


def test_the_static_rendering_has_a_plain_text_twin(result):
    rendering = bundle(result)
    plain = rendering["text/plain"]
    assert ANSWER in plain
    assert "12 in / 25 out (19 thinking)" in plain
    assert "<details>" not in plain
    assert "<details>" in rendering["text/markdown"]


def test_a_reply_without_thinking_renders_without_details(ip, glm_server):
    result = glm_magic.complete("hi", thinking=False)
    assert result.thinking == ""
    assert "<details>" not in result._repr_markdown_()
    assert result.answer in result._repr_markdown_()


def test_a_failed_result_says_what_went_wrong(ip, glm_server):
    glm_server.queue(Fault("free_tier_only"))
    result = glm_magic.complete("hi")
    assert (result.complete, result.finish_reason) == (False, "error")
    assert result.answer == ""
    assert "AllocationQuota.FreeTierOnly" in result._repr_markdown_()
    assert bundle(result)["text/plain"].startswith("! HTTP 403 [AllocationQuota.FreeTierOnly]")
    assert "error" in repr(result)


def test_one_word_of_thinking_is_one_word(ip, glm_server):
    glm_server.queue(Reply(thinking="Hmm.", answer="Yes."))
    rendered = bundle(glm_magic.complete("hi"))
    assert "Thinking (1 word)" in rendered["text/markdown"]
    assert "[thinking: 1 word, in .thinking]" in rendered["text/plain"]


def test_a_result_is_plain_data_that_pickles(result):
    copy = pickle.loads(pickle.dumps(result))
    assert (copy.answer, copy.thinking, copy.usage) == (
        result.answer,
        result.thinking,
        result.usage,
    )


def test_a_long_reply_is_held_in_a_few_strings_not_one_per_token():
    collector = Collector("glm-4.6")
    for _ in range(3 * COMPACT_AT):
        collector.add(ThinkingDelta("hmm "))
    for i in range(COMPACT_AT + 5):
        collector.add(AnswerDelta(f"{i} "))
    assert len(collector.thinking) < COMPACT_AT and len(collector.answer) < COMPACT_AT
    result = collector.result()
    assert result.thinking == "hmm " * (3 * COMPACT_AT)
    assert result.answer == "".join(f"{i} " for i in range(COMPACT_AT + 5))

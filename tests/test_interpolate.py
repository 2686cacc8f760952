"""Prompt filling: notebook values go in, mistakes stop the cell before anything is sent."""

from __future__ import annotations

import pytest

from glm_magic.errors import GLMUsageError
from glm_magic.interpolate import interpolate

NS = {"name": "Ada", "rows": [1, 2, 3], "price": 3.14159, "d": {"a:b": 1}}


def test_names_and_expressions_are_filled_in():
    assert interpolate("Hi {name}, {len(rows)} rows", NS) == "Hi Ada, 3 rows"
    assert interpolate("{rows[1:]}", NS) == "[2, 3]"
    assert interpolate('{d["a:b"]}', NS) == "1"


def test_conversions_and_format_specs_work_like_fstrings():
    assert interpolate("{name!r}", NS) == "'Ada'"
    assert interpolate("{price:.2f}", NS) == "3.14"
    assert interpolate("{name!r:>6}", NS) == " 'Ada'"


def test_doubled_braces_and_dollars_are_literal():
    assert interpolate("{{name}} costs $5", NS) == "{name} costs $5"


def test_missing_name_is_named_in_the_error():
    with pytest.raises(GLMUsageError, match="no variable named 'missing'"):
        interpolate("Explain {missing}", NS)


@pytest.mark.parametrize(
    "text",
    [
        'Parse this JSON: {"a": 1, "b": [1, 2]}',
        "d = {'x': 1}",
        "def f(): return {}",
        "a stray } brace",
        "an open { brace",
    ],
)
def test_braces_that_are_not_placeholders_say_to_use_raw(text):
    with pytest.raises(GLMUsageError, match="--raw"):
        interpolate(text, NS)


def test_a_failing_expression_names_itself():
    with pytest.raises(GLMUsageError, match=r"\{rows\[10\]\} failed: IndexError"):
        interpolate("{rows[10]}", NS)


def test_json_in_a_prompt_is_called_what_it_is():
    with pytest.raises(GLMUsageError, match="braces that are not a placeholder"):
        interpolate('Fix {"a": 1}', NS)


def test_a_function_or_method_is_refused_and_named():
    with pytest.raises(GLMUsageError, match=r"\{name.upper\} is the method str.upper"):
        interpolate("Shout {name.upper}", NS)
    with pytest.raises(GLMUsageError, match=r"\{len\} is the function len.*\{len\(\)\}"):
        interpolate("{len}", NS)
    assert interpolate("Shout {name.upper()}", NS) == "Shout ADA"

"""Function calling: notebook functions as tools, and the tool loop, against the fake DashScope.

The schema tests read what the model would be told about a function. The loop
tests run ``%%glm --tools ...`` in a real InteractiveShell: the fake server
streams the tool calls in the provider's shape (id once, arguments in pieces),
the functions run in the shell, and every request the server received shows
what went back to the model.
"""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Annotated, Literal, Optional

import pytest
from conftest import run
from pydantic import BaseModel

import glm_magic
from glm_magic import GLMUsageError
from glm_magic.testing import Reply
from glm_magic.testing.kernel import KernelSession
from glm_magic.tools import Toolbox, function_schema, parse_docstring, result_text


def parameters(func) -> dict:
    return function_schema(func)["function"]["parameters"]


def call(func, arguments: str | dict):
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Toolbox.of([func]).call("call_1", func.__name__, text)


# -- what the model is told about a function ----------------------------------------


def test_plain_types_and_defaults_become_a_json_schema():
    def book(city: str, nights: int, budget: float, breakfast: bool = False, notes=None):
        """Book a hotel room.

        Picks the cheapest room that fits.
        """

    spec = function_schema(book)
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "book"
    assert spec["function"]["description"] == "Book a hotel room."
    assert spec["function"]["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "nights": {"type": "integer"},
            "budget": {"type": "number"},
            "breakfast": {"type": "boolean", "default": False},
            "notes": {"default": None},
        },
        "required": ["city", "nights", "budget"],
    }


def test_containers_and_their_item_types():
    def f(
        a: list,
        b: dict,
        c: list[int],
        d: dict[str, float],
        e: tuple[int, ...],
        g: tuple[str, int],
        h: set[str],
        i: Sequence[str],
    ):
        pass

    props = parameters(f)["properties"]
    assert props["a"] == {"type": "array"}
    assert props["b"] == {"type": "object"}
    assert props["c"] == {"type": "array", "items": {"type": "integer"}}
    assert props["d"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["e"] == {"type": "array", "items": {"type": "integer"}}
    assert props["g"] == {
        "type": "array",
        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["h"] == {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    assert props["i"] == {"type": "array", "items": {"type": "string"}}


class Unit(enum.Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


def test_optional_union_literal_enum_and_annotated():
    def f(
        a: Optional[int],  # noqa: UP045 (the old spelling is what many notebooks have)
        b: str | None,
        c: int | str,
        d: Literal["low", "high"],
        e: Unit,
        g: Annotated[int, "how many"],
        h: list[Unit] | None = None,
    ):
        pass

    props = parameters(f)["properties"]
    assert props["a"] == {"type": ["integer", "null"]}
    assert props["b"] == {"type": ["string", "null"]}
    assert props["c"] == {"type": ["integer", "string"]}
    assert props["d"] == {"type": "string", "enum": ["low", "high"]}
    assert props["e"] == {"type": "string", "enum": ["C", "F"]}
    assert props["g"] == {"type": "integer", "description": "how many"}
    assert props["h"]["anyOf"][0] == {
        "type": "array",
        "items": {"type": "string", "enum": ["C", "F"]},
    }
    assert parameters(f)["required"] == ["a", "b", "c", "d", "e", "g"]


class Point(BaseModel):
    x: float
    y: float


class Route(BaseModel):
    name: str
    stops: list[Point]


def test_a_pydantic_parameter_brings_its_schema_and_definitions():
    def plan(route: Route, speed: float = 5.0):
        """Time a route."""

    params = parameters(plan)
    route = params["properties"]["route"]
    assert route["type"] == "object"
    assert route["required"] == ["name", "stops"]
    assert route["properties"]["stops"]["items"] == {"$ref": "#/$defs/Point"}
    assert params["$defs"]["Point"]["required"] == ["x", "y"]


def test_google_style_docstring_gives_parameter_descriptions():
    def weather(city: str, days: int = 1):
        """Forecast for a city.

        Uses the national weather service.

        Args:
            city: The city name, for example
                "Hangzhou".
            days (int): How many days ahead.

        Returns:
            A short text.
        """

    spec = function_schema(weather)["function"]
    assert spec["description"] == "Forecast for a city."
    props = spec["parameters"]["properties"]
    assert props["city"]["description"] == 'The city name, for example "Hangzhou".'
    assert props["days"]["description"] == "How many days ahead."


def test_numpy_style_docstring_gives_parameter_descriptions():
    def scale(values, factor=2.0):
        """Multiply every value
        by a factor.

        Parameters
        ----------
        values : list of float
            The numbers to scale.
        factor : float, optional
            What to multiply by.

        Returns
        -------
        list of float
        """

    spec = function_schema(scale)["function"]
    assert spec["description"] == "Multiply every value by a factor."
    props = spec["parameters"]["properties"]
    assert props["values"] == {"description": "The numbers to scale."}
    assert props["factor"] == {"description": "What to multiply by.", "default": 2.0}


def test_sphinx_fields_and_shared_numpy_entries():
    assert parse_docstring("Add.\n\n:param a: first\n:param int b: second\n:returns: sum") == (
        "Add.",
        {"a": "first", "b": "second"},
    )
    doc = "Add.\n\nParameters\n----------\nx, y : int\n    Numbers to add.\n"
    assert parse_docstring(doc)[1] == {"x": "Numbers to add.", "y": "Numbers to add."}


def test_an_annotation_that_does_not_resolve_leaves_only_that_parameter_untyped():
    class Local:
        pass

    def f(a: int, b: Local, c: list[str]):
        pass

    props = parameters(f)["properties"]
    assert props == {
        "a": {"type": "integer"},
        "b": {},
        "c": {"type": "array", "items": {"type": "string"}},
    }


def test_var_args_are_left_out_and_a_function_without_docstring_has_no_description():
    def f(x, *rest, flag: bool = True, **extra):
        pass

    spec = function_schema(f)["function"]
    assert "description" not in spec
    assert list(spec["parameters"]["properties"]) == ["x", "flag"]
    assert spec["parameters"]["required"] == ["x"]


def test_schemas_of_plain_functions_do_not_import_pydantic():
    code = (
        "import sys\n"
        "from glm_magic.tools import function_schema\n"
        "def f(a: int, b: list[str] | None = None): pass\n"
        "function_schema(f)\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unnamed_or_uncallable_tools_are_refused_before_sending():
    with pytest.raises(GLMUsageError, match="def"):
        Toolbox.of([lambda x: x])
    with pytest.raises(GLMUsageError, match="not callable"):
        Toolbox.of({"answer": 42})
    with pytest.raises(GLMUsageError, match="Two tools"):
        Toolbox.of([len, len])
    box = Toolbox.of({"square": lambda x: x * x})
    assert box.call("c", "square", '{"x": 3}').result == "9"


# -- calling a tool from the model's arguments --------------------------------------


def test_arguments_are_converted_to_the_annotated_types():
    seen = {}

    def f(unit: Unit, size: tuple[int, int], route: Route, ratio: float, tags: set[str]):
        seen.update(unit=unit, size=size, route=route, ratio=ratio, tags=tags)
        return "ok"

    record = call(
        f,
        {
            "unit": "F",
            "size": [2, 3],
            "route": {"name": "loop", "stops": [{"x": 0, "y": 1}]},
            "ratio": 2,
            "tags": ["a", "a"],
        },
    )
    assert record.error is None and record.result == "ok"
    assert seen["unit"] is Unit.FAHRENHEIT
    assert seen["size"] == (2, 3)
    assert seen["route"] == Route(name="loop", stops=[Point(x=0, y=1)])
    assert seen["ratio"] == 2.0 and isinstance(seen["ratio"], float)
    assert seen["tags"] == {"a"}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"city": "Paris"', "not valid JSON"),
        ('["Paris"]', "must be a JSON object, not array"),
        ('{"town": "Paris"}', "unexpected argument 'town' (it takes 'city', 'days')"),
        ("{}", "missing required argument 'city'"),
        ('{"city": 7}', "'city' must be a string; got integer 7"),
        ('{"city": "Paris", "days": "two"}', "'days' must be an integer"),
    ],
)
def test_bad_arguments_become_error_text_for_the_model(arguments, expected):
    def forecast(city: str, days: int = 1) -> str:
        raise AssertionError("must not run")

    record = call(forecast, arguments)
    assert expected in record.error
    assert record.result == f"Error: {record.error}"


def test_results_are_serialised_and_cut_to_a_budget():
    pandas = pytest.importorskip("pandas")
    assert result_text({"a": [1, 2.5, None], "kind": enum.Enum}) == (
        '{"a": [1, 2.5, null], "kind": "<enum \'Enum\'>"}'
    )
    assert result_text("plain text") == "plain text"
    assert result_text(None) == "null"
    assert result_text(Point(x=1, y=2)) == '{"x":1.0,"y":2.0}'
    frame = pandas.DataFrame({"city": ["Paris", "Lima"], "rain": [3, 5]})
    assert result_text(frame) == str(frame)
    long = result_text("x" * 50, limit=20)
    assert long.startswith("x" * 20) and "30 more characters" in long


# -- the tool loop, through %%glm ----------------------------------------------------

TOOL_CELLS = '''
calls = []

def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    calls.append(("add", a, b))
    return a + b

def fail(reason: str):
    """Always fails."""
    raise ValueError(f"cannot do it: {reason}")

def secret():
    calls.append(("secret",))
    return "nobody asked"
'''


@pytest.fixture
def tools(ip):
    run(ip, TOOL_CELLS)
    yield ip.user_ns["calls"]
    for name in ("calls", "add", "fail", "secret", "total"):
        ip.user_ns.pop(name, None)


def cell(ip, capsys, source: str):
    """Run a cell; returns (stdout, stderr, result) and checks that nothing crashed."""
    outcome = run(ip, source)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert outcome.error_in_exec is None
    return out, err, ip.user_ns.get("_glm")


def sent(server, i: int) -> list[dict]:
    return server.requests[i].body["messages"]


def tool_call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


def test_two_rounds_of_calls_then_an_answer(ip, glm_server, capsys, tools):
    glm_server.queue(
        Reply(thinking="First 2 + 3.", tool_calls=[tool_call("add", a=2, b=3)], chunk_chars=3),
        Reply(thinking="Now 5 + 4.", tool_calls=[tool_call("add", a=5, b=4)]),
        Reply(thinking="That is all.", answer="The total is 9."),
    )
    out, err, result = cell(ip, capsys, "%%glm --tools add -o total\nWhat is 2 + 3 + 4?")
    assert tools == [("add", 2, 3), ("add", 5, 4)]
    assert result.answer == "The total is 9." and result.complete
    assert result.finish_reason == "stop"
    assert result.thinking == "First 2 + 3.\n\nNow 5 + 4.\n\nThat is all."
    assert [(c.name, c.arguments, c.result, c.error) for c in result.tool_calls] == [
        ("add", {"a": 2, "b": 3}, "5", None),
        ("add", {"a": 5, "b": 4}, "9", None),
    ]
    assert all(c.id.startswith("call_") and c.seconds >= 0 for c in result.tool_calls)
    assert ip.user_ns["total"] is result

    assert len(glm_server.requests) == 3
    spec = glm_server.requests[0].body["tools"]
    assert spec[0]["function"]["name"] == "add"
    assert spec[0]["function"]["parameters"]["properties"]["a"]["description"] == (
        "The first number."
    )
    first, second = result.tool_calls
    assert sent(glm_server, 1)[1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": first.id,
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": first.id, "content": "5"},
    ]
    assert sent(glm_server, 2)[:3] == sent(glm_server, 1)
    assert sent(glm_server, 2)[4] == {"role": "tool", "tool_call_id": second.id, "content": "9"}
    assert result.messages == sent(glm_server, 2)[1:] + [
        {"role": "assistant", "content": "The total is 9."}
    ]

    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    out_lines = [line for line in out.splitlines() if line.startswith("Tool call:")]
    assert out_lines[0].startswith("Tool call: add(a=2, b=3) -> 5 (")
    assert out_lines[1].startswith("Tool call: add(a=5, b=4) -> 9 (")
    assert out.index("First 2 + 3.") < out.index("add(a=2") < out.index("Now 5 + 4.")
    assert out.index("Now 5 + 4.") < out.index("add(a=5") < out.index("The total is 9.")


def test_usage_adds_up_over_the_rounds(ip, glm_server, capsys, tools):
    usage = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    glm_server.queue(
        Reply(tool_calls=[tool_call("add", a=1, b=1)], usage=usage),
        Reply(answer="2", usage={**usage, "completion_tokens_details": {"reasoning_tokens": 3}}),
    )
    _, _, result = cell(ip, capsys, "%%glm --tools add\n1 + 1?")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (20, 8)
    assert (result.usage.total_tokens, result.usage.reasoning_tokens) == (28, 3)


def test_several_calls_in_one_turn_each_get_their_tool_message(ip, glm_server, capsys, tools):
    glm_server.queue(
        Reply(tool_calls=[tool_call("add", a=1, b=2), tool_call("add", a=10, b=20)]),
        Reply(answer="3 and 30."),
    )
    _, _, result = cell(ip, capsys, "%%glm --tools add\nTwo sums.")
    assert tools == [("add", 1, 2), ("add", 10, 20)]
    ids = [c.id for c in result.tool_calls]
    assert len(set(ids)) == 2
    assistant, *replies = sent(glm_server, 1)[1:]
    assert [c["id"] for c in assistant["tool_calls"]] == ids
    assert replies == [
        {"role": "tool", "tool_call_id": ids[0], "content": "3"},
        {"role": "tool", "tool_call_id": ids[1], "content": "30"},
    ]


def test_parallel_calls_sent_all_at_index_0_stay_apart(ip, glm_server, capsys, tools):
    both = [{**tool_call("add", a=1, b=2), "index": 0}, {**tool_call("add", a=3, b=4), "index": 0}]
    glm_server.queue(Reply(tool_calls=both, chunk_chars=3), Reply(answer="3 and 7."))
    _, _, result = cell(ip, capsys, "%%glm --tools add\nTwo sums.")
    assert tools == [("add", 1, 2), ("add", 3, 4)]
    assert [(c.name, c.result) for c in result.tool_calls] == [("add", "3"), ("add", "7")]
    assert str(result) == "3 and 7."


def test_a_failing_tool_reports_to_the_model_and_the_cell_carries_on(ip, glm_server, capsys, tools):
    glm_server.queue(
        Reply(tool_calls=[tool_call("fail", reason="no data")]),
        Reply(answer="The tool failed: no data."),
    )
    out, err, result = cell(ip, capsys, "%%glm --tools fail,add\nTry.")
    assert result.complete and result.answer == "The tool failed: no data."
    record = result.tool_calls[0]
    assert record.error == "fail raised ValueError: cannot do it: no data"
    reply = sent(glm_server, 1)[-1]
    assert reply == {
        "role": "tool",
        "tool_call_id": record.id,
        "content": "Error: fail raised ValueError: cannot do it: no data",
    }
    assert "Tool call: fail(reason='no data') -> Error: fail raised ValueError" in out
    assert err == ""


def test_bad_json_arguments_go_back_as_an_error_and_history_stays_valid(
    ip, glm_server, capsys, tools
):
    glm_server.queue(
        Reply(tool_calls=[{"name": "add", "arguments": '{"a": 1, "b": '}]),
        Reply(answer="Sorry."),
    )
    _, _, result = cell(ip, capsys, "%%glm --tools add\nAdd.")
    assert tools == []
    record = result.tool_calls[0]
    assert record.arguments == '{"a": 1, "b": '
    assert "not valid JSON" in record.error
    assistant, reply = sent(glm_server, 1)[1:]
    assert assistant["tool_calls"][0]["function"]["arguments"] == "{}"
    assert reply["content"].startswith("Error: the arguments for add are not valid JSON")
    assert """received '{"a": 1, "b": '""" in reply["content"]


def test_only_functions_named_in_tools_can_run(ip, glm_server, capsys, tools):
    glm_server.queue(
        Reply(tool_calls=[tool_call("secret")]),
        Reply(answer="I cannot."),
    )
    _, _, result = cell(ip, capsys, "%%glm --tools add\nCall secret().")
    assert tools == [], "secret() exists in the notebook but was not named in --tools"
    assert result.tool_calls[0].error == "there is no tool named 'secret'; the tools are: add"
    assert [t["function"]["name"] for t in glm_server.requests[0].body["tools"]] == ["add"]
    assert sent(glm_server, 1)[-1]["content"].startswith("Error: there is no tool named")


def test_a_cell_without_tools_runs_nothing(ip, glm_server, capsys, tools):
    glm_server.queue(Reply(tool_calls=[tool_call("add", a=1, b=1)]))
    out, _, result = cell(ip, capsys, "%%glm\nAdd.")
    assert tools == [] and result.tool_calls == []
    assert (result.finish_reason, result.complete) == ("tool_calls", False)
    assert result.error_code == "unrequested_tool_calls"
    assert "tool calls (add) but this request named no tools" in out
    assert len(glm_server.requests) == 1
    assert "tools" not in glm_server.requests[0].body


@pytest.fixture
def two_tool_rounds(ip):
    ip.run_line_magic("config", "GLMMagics.max_tool_rounds = 2")
    yield
    ip.run_line_magic("config", "GLMMagics.max_tool_rounds = 5")


def test_max_tool_rounds_stops_the_loop_with_a_clear_error(
    ip, glm_server, capsys, tools, two_tool_rounds
):
    glm_server.queue(
        *[Reply(answer=f"Step {i}.", tool_calls=[tool_call("add", a=i, b=i)]) for i in range(3)]
    )
    out, err, result = cell(ip, capsys, "%%glm --tools add\nKeep adding.")
    assert len(glm_server.requests) == 3
    assert tools == [("add", 0, 0), ("add", 1, 1)]
    assert result.complete is False
    assert result.finish_reason == "tool_calls"
    assert result.error_code == "max_tool_rounds"
    assert "after 2 rounds" in result.error and "max_tool_rounds" in result.error
    assert result.error in out
    assert result.answer == "Step 2."
    assert result.messages[-1] == {"role": "assistant", "content": "Step 2."}
    assert err == ""


def test_tools_must_name_callables_in_the_namespace(ip, glm_server, capsys, tools):
    ip.user_ns["not_a_function"] = 42
    for line, hint in [
        ("%%glm --tools add,missing\nhi", "no function named 'missing'"),
        (
            "%%glm --tools not_a_function\nhi",
            "'not_a_function' is not a function (its type is int)",
        ),
    ]:
        outcome = run(ip, line)
        out, err = capsys.readouterr()
        assert not outcome.success
        assert err.startswith("UsageError: ") and hint in err
        assert "Traceback" not in out + err
    assert glm_server.requests == []
    del ip.user_ns["not_a_function"]


def test_the_line_magic_and_repeated_options_take_tools_too(ip, glm_server, capsys, tools):
    glm_server.queue(
        Reply(tool_calls=[tool_call("add", a=1, b=2), tool_call("fail", reason="x")]),
        Reply(answer="Done."),
    )
    run(ip, "r_line = %glm --tools add --tools fail Add then fail.")
    capsys.readouterr()
    result = ip.user_ns["r_line"]
    assert [c.name for c in result.tool_calls] == ["add", "fail"]
    assert sent(glm_server, 0) == [{"role": "user", "content": "Add then fail."}]


def test_the_python_api_takes_functions(glm_env):
    def lookup(city: str) -> dict:
        """Population of a city."""
        return {"city": city, "population": 2_100_000}

    glm_env.queue(
        Reply(tool_calls=[tool_call("lookup", city="Paris")]),
        Reply(answer="About 2.1 million."),
    )
    result = glm_magic.complete("How many people live in Paris?", tools=[lookup])
    assert result.answer == "About 2.1 million."
    assert result.tool_calls[0].result == '{"city": "Paris", "population": 2100000}'
    assert glm_env.requests[0].body["tools"][0]["function"]["description"] == (
        "Population of a city."
    )
    glm_env.queue(*[Reply(tool_calls=[tool_call("lookup", city="Lima")]) for _ in range(2)])
    stopped = glm_magic.complete("Again", tools={"lookup": lookup}, max_tool_rounds=1)
    assert stopped.error_code == "max_tool_rounds"
    with pytest.raises(GLMUsageError):
        glm_magic.complete("x", tools=["lookup"])


def test_static_rendering_keeps_the_calls(ip, glm_server, capsys, tools):
    glm_server.queue(Reply(tool_calls=[tool_call("add", a=2, b=2)]), Reply(answer="Four."))
    _, _, result = cell(ip, capsys, "%%glm --tools add\n2 + 2?")
    markdown = result._repr_markdown_()
    assert "Tool call: <code>add(a=2, b=2) -&gt; 4 (" in markdown
    assert markdown.index("Tool call:") < markdown.index("Four.")
    from glm_magic.render import plain

    assert "Tool call: add(a=2, b=2) -> 4 (" in plain(result)


def test_a_conversation_keeps_the_tool_turns(ip, glm_server, capsys, tools):
    glm_server.queue(
        Reply(tool_calls=[tool_call("add", a=20, b=22)]),
        Reply(answer="42."),
        Reply(answer="You asked about 20 + 22."),
    )
    run(ip, "%glm reset tooltalk")
    cell(ip, capsys, "%%glm -c tooltalk --tools add\nWhat is 20 + 22?")
    first = ip.user_ns["_glm"]
    cell(ip, capsys, "%%glm -c tooltalk\nWhat did I ask?")
    history = sent(glm_server, 2)
    assert history[0] == {"role": "user", "content": "What is 20 + 22?"}
    assert history[1:4] == first.messages
    assert history[2] == {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "42"}
    assert history[-1] == {"role": "user", "content": "What did I ask?"}
    run(ip, "%glm reset tooltalk")
    capsys.readouterr()


# -- in a real kernel ----------------------------------------------------------------


def test_the_widget_view_shows_each_call_and_the_saved_markdown_keeps_it(glm_server_session):
    server = glm_server_session
    server.reset()
    env = {"GLM_MAGIC_BASE_URL": server.base_url, "GLM_MAGIC_API_KEY": server.api_key}
    with KernelSession(env) as kernel:
        setup = kernel.execute(
            "%load_ext glm_magic\n"
            "def area(width: float, height: float) -> float:\n"
            "    '''Area of a rectangle.'''\n"
            "    print('measuring')\n"
            "    return width * height\n"
        )
        assert setup.ok
        server.queue(
            Reply(thinking="Need the area.", tool_calls=[tool_call("area", width=3, height=4)]),
            Reply(thinking="Got it.", answer="The area is 12."),
        )
        cell_run = kernel.execute("%%glm --tools area\nArea of 3 by 4?")
        assert cell_run.ok
        models = [m.content["data"]["state"]["_model_name"] for m in cell_run.of("comm_open")]
        assert models.count("OutputModel") == 4, "thinking, tool calls and two answer panes"
        text = cell_run.text()
        assert "Tool call: area(width=3, height=4) -> 12.0 (" in text
        assert text.index("Need the area.") < text.index("Tool call: area")
        assert "measuring" in text
        assert cell_run.markdown() == "The area is 12."
        final = cell_run.of("update_display_data")[-1].content["data"]
        assert "Tool call: <code>area(width=3, height=4) -&gt; 12.0 (" in final["text/markdown"]
        assert "Tool call: area(width=3, height=4) -> 12.0 (" in final["text/plain"]
        assert len(cell_run.of("comm_close")) == len(cell_run.of("comm_open"))
        check = kernel.execute("print(_glm.tool_calls[0].result, _glm.answer)")
        assert check.text().strip() == "12.0 The area is 12."
    server.reset()


def test_a_tool_may_itself_ask_glm_with_tools_without_deadlocking(glm_env):
    def inner_lookup(word: str) -> str:
        """Look a word up."""
        return word.upper()

    def outer_research(topic: str) -> str:
        """Research a topic with a helper model."""
        return str(glm_magic.complete(f"look up {topic}", tools=[inner_lookup]))

    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            glm_magic.complete("research topic x", tools=[outer_research])
        )
    )
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the nested tool call deadlocked"
    assert [call.name for call in results[0].tool_calls] == ["outer_research"]
    assert "inner_lookup" in results[0].tool_calls[0].result

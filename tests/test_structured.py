"""``--json``, ``--schema`` and ``--code``: what is asked of the model, and what the result holds.

Every run goes through a real InteractiveShell (or ``glm_magic.complete``)
and the openai SDK to the fake DashScope, which enforces the provider's two
JSON-mode rules: the word "json" in a message, and no thinking.
"""

from __future__ import annotations

import pytest
from conftest import run
from pydantic import BaseModel

import glm_magic
from glm_magic import structured
from glm_magic.structured import first_code_block, parse_json
from glm_magic.testing import Reply
from glm_magic.testing.kernel import KernelSession


class City(BaseModel):
    name: str
    population: int


CITY_SCHEMA = {
    "title": "City",
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
}


@pytest.fixture
def ns(ip):
    """The schemas in the notebook, removed again after the test."""
    ip.user_ns.update(City=City, city_schema=CITY_SCHEMA)
    yield ip.user_ns
    for name in ("City", "city_schema"):
        ip.user_ns.pop(name, None)


def cell(ip, capsys, source: str):
    run(ip, source)
    return capsys.readouterr()


def sent(server) -> dict:
    return server.requests[-1].body


# -- --json --------------------------------------------------------------------


def test_json_asks_for_json_and_parses_the_answer(ip, glm_server, capsys):
    out, err = cell(ip, capsys, "%%glm -m glm-4.7 --json\nName three primary colours.")
    body = sent(glm_server)
    assert body["response_format"] == {"type": "json_object"}
    # The provider refuses JSON mode unless a message says "json": one line is added.
    assert body["messages"][-1]["content"].startswith("Name three primary colours.\n\n")
    assert "JSON" in body["messages"][-1]["content"]
    result = ip.user_ns["_glm"]
    assert result.complete and result.error is None
    assert result.data == {"echo": body["messages"][-1]["content"][:50], "messages": 1}
    assert err == ""


def test_a_model_without_json_mode_is_asked_in_the_prompt_and_keeps_thinking(
    ip, glm_server, capsys
):
    """glm-5 on DashScope has no structured output (its model page): no response_format."""
    out, _ = cell(ip, capsys, "%%glm --json\nDescribe Lyon in JSON.")
    body = sent(glm_server)
    assert body["model"] == "glm-5"
    assert "response_format" not in body
    assert body["enable_thinking"] is True, "nothing to refuse, so the model's default"
    assert body["messages"][-1]["content"].endswith(structured.JSON_HINT)
    result = ip.user_ns["_glm"]
    assert result.data["messages"] == 1 and result.thinking
    assert "thinking is off" not in out


def test_a_prompt_that_mentions_json_is_sent_as_written(ip, glm_server, capsys):
    glm_server.queue(Reply(answer='{"a": 1}'))
    cell(ip, capsys, "%%glm -m glm-4.7 --json\nGive me a json object with a=1.")
    assert sent(glm_server)["messages"] == [
        {"role": "user", "content": "Give me a json object with a=1."}
    ]
    assert ip.user_ns["_glm"].data == {"a": 1}


def test_json_mode_turns_thinking_off_and_says_so_once_a_session(
    ip, glm_server, capsys, monkeypatch
):
    monkeypatch.setattr(structured, "_NOTED", set())  # a new session
    out, _ = cell(ip, capsys, "%%glm -m glm-4.7 --json\nA JSON list of two fruits, please.")
    assert sent(glm_server)["enable_thinking"] is False
    assert "thinking is off for this call" in out and "--thinking" in out
    assert ip.user_ns["_glm"].thinking == ""
    again, _ = cell(ip, capsys, "%%glm -m glm-4.7 --json\nA JSON list of two vegetables, please.")
    assert sent(glm_server)["enable_thinking"] is False
    assert "thinking is off" not in again, "saved cells do not repeat the note"


def test_explicit_thinking_is_sent_as_asked_and_the_refusal_shown(ip, glm_server, capsys):
    out, err = cell(ip, capsys, "%%glm -m glm-4.7 --json --thinking\nA JSON list of two fruits.")
    assert sent(glm_server)["enable_thinking"] is True
    assert "thinking is off" not in out
    result = ip.user_ns["_glm"]
    assert not result.complete and result.data is None
    assert "Json mode response is not supported when enable_thinking is true" in result.error
    assert "Traceback" not in out + err


def test_an_explicit_no_thinking_needs_no_note(ip, glm_server, capsys):
    out, _ = cell(ip, capsys, "%%glm --json --no-thinking\nA JSON list of two fruits.")
    assert sent(glm_server)["enable_thinking"] is False
    assert "thinking is off" not in out


def test_invalid_json_keeps_the_text_and_says_why(ip, glm_server, capsys):
    glm_server.queue(Reply(answer="Sorry, I can't do JSON today."))
    out, err = cell(ip, capsys, "%%glm --json\nJSON please")
    result = ip.user_ns["_glm"]
    assert result.data is None
    assert result.answer == "Sorry, I can't do JSON today."
    assert result.error.startswith("The answer is not valid JSON")
    # The reply arrived whole: only the content is wrong.
    assert result.complete and result.finish_reason == "stop"
    assert "not valid JSON" in out and "Traceback" not in out + err
    assert "not valid JSON" in result._repr_markdown_()


def test_fenced_json_is_parsed(ip, glm_server, capsys):
    glm_server.queue(Reply(answer='Here it is:\n```json\n{"ok": true, "n": [1, 2]}\n```\n'))
    cell(ip, capsys, "%%glm --json\nJSON please")
    assert ip.user_ns["_glm"].data == {"ok": True, "n": [1, 2]}
    assert ip.user_ns["_glm"].error is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]\n", [1, 2]),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('~~~json\n{"a": 1}\n~~~', {"a": 1}),
        ('The object is {"a": {"b": 2}} as asked.', {"a": {"b": 2}}),
    ],
)
def test_json_is_found_in_the_shapes_models_write(text, value):
    assert parse_json(text) == value


def test_the_python_api_takes_the_same_options(glm_env):
    glm_env.queue(Reply(answer='{"name": "Hangzhou", "population": 12000000}'))
    result = glm_magic.complete("Which city?", schema=City, model="glm-4.7")
    assert result.data == City(name="Hangzhou", population=12_000_000)
    assert glm_env.last_request.body["enable_thinking"] is False
    result = glm_magic.complete("A JSON object, please.", json=True)
    assert result.data["messages"] == 1


def test_a_batch_groups_bad_json_and_schema_mismatches_by_their_own_codes(glm_env):
    glm_env.queue(
        Reply(answer="Sorry, no JSON today."),
        Reply(answer='{"name": "Ningbo"}'),
        Reply(answer='{"name": "Wuxi"}'),
        Reply(answer='{"name": "Wuxi", "population": 7400000}'),
    )
    batch = glm_magic.map(["a", "b", "c", "d"], concurrency=1, schema=City)
    assert [r.error_code for r in batch] == [
        "invalid_json",
        "schema_mismatch",
        "schema_mismatch",
        None,
    ]
    groups = [(code, n) for code, n, _, _ in batch.failure_groups()]
    assert groups == [("schema_mismatch", 2), ("invalid_json", 1)]
    assert "× stop" not in batch.summary()


# -- --schema ------------------------------------------------------------------


def test_a_pydantic_schema_goes_into_the_prompt_and_validates(ip, ns, glm_server, capsys):
    glm_server.queue(Reply(answer='{"name": "Hangzhou", "population": 12000000}'))
    cell(ip, capsys, "%%glm -m glm-4.7 --schema City -o r_city\nThe biggest city in Zhejiang?")
    body = sent(glm_server)
    assert body["response_format"] == {"type": "json_object"}
    prompt = body["messages"][-1]["content"]
    assert '"population"' in prompt and '"integer"' in prompt
    result = ip.user_ns["r_city"]
    assert isinstance(result.data, City)
    assert result.data.population == 12_000_000


def test_a_pydantic_mismatch_names_the_field(ip, ns, glm_server, capsys):
    glm_server.queue(Reply(answer='{"name": "Hangzhou", "population": "a lot"}'))
    out, err = cell(ip, capsys, "%%glm --schema City\nThe biggest city in Zhejiang?")
    result = ip.user_ns["_glm"]
    assert result.data is None
    assert result.error.startswith("The JSON does not match City: population:")
    assert result.answer == '{"name": "Hangzhou", "population": "a lot"}'
    assert result.complete and result.finish_reason == "stop"
    assert "Traceback" not in out + err


def test_a_dict_schema_validates_with_jsonschema(ip, ns, glm_server, capsys):
    glm_server.queue(Reply(answer='{"name": "Ningbo", "population": 9600000}'))
    cell(ip, capsys, "%%glm --schema city_schema\nAnother city?")
    assert ip.user_ns["_glm"].data == {"name": "Ningbo", "population": 9_600_000}
    glm_server.queue(Reply(answer='{"name": "Ningbo"}'))
    cell(ip, capsys, "%%glm --schema city_schema\nAnother city?")
    result = ip.user_ns["_glm"]
    assert result.data is None
    assert result.error == ("The JSON does not match City: $: 'population' is a required property.")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--schema nowhere", "no variable named 'nowhere'"),
        ("--schema bad_schema", "not a valid JSON schema"),
        ("--schema not_a_schema", "pydantic model class or a JSON-schema dict; got str"),
        ("--json --code", "choose one"),
    ],
)
def test_schema_mistakes_stop_before_sending(ip, ns, glm_server, capsys, line, message):
    ip.user_ns.update(bad_schema={"type": "no-such-type"}, not_a_schema="City")
    _, err = cell(ip, capsys, f"%%glm {line}\nA city?")
    assert err.startswith("UsageError:") and message in err
    assert glm_server.requests == []
    for name in ("bad_schema", "not_a_schema"):
        del ip.user_ns[name]


# -- --code --------------------------------------------------------------------


def test_code_is_asked_for_kept_and_offered_as_the_next_cell(ip, glm_server, capsys):
    glm_server.queue(
        Reply(answer="Like this:\n\n```python\ndf.groupby('city').sales.sum()\n```\n\nDone.")
    )
    ip.rl_next_input = None
    cell(ip, capsys, "%%glm --code\nTotal sales per city?")
    assert "```python" in sent(glm_server)["messages"][-1]["content"]
    result = ip.user_ns["_glm"]
    assert result.code == "df.groupby('city').sales.sum()"
    # Offered, not run: the next input holds it and nothing was executed.
    assert ip.rl_next_input == "df.groupby('city').sales.sum()"
    assert "KeyError" not in capsys.readouterr().err


def test_in_a_kernel_the_code_becomes_a_new_cell_and_json_still_parses(glm_server):
    env = {"GLM_MAGIC_BASE_URL": glm_server.base_url, "GLM_MAGIC_API_KEY": glm_server.api_key}
    glm_server.queue(Reply(answer="```python\nprint('from GLM')\n```"))
    glm_server.queue(Reply(answer='{"ok": true}'))
    with KernelSession(env) as kernel:
        assert kernel.execute("%load_ext glm_magic").ok
        run_code = kernel.execute("%%glm --code\nPrint something.")
        run_json = kernel.execute("%%glm --json\nJSON please\n")
        checked = kernel.execute("assert _glm.data == {'ok': True}, _glm.data")
    assert run_code.ok
    # Offered, not run: "from GLM" is in the answer's code only, never printed.
    assert "from GLM" not in run_code.text()
    assert run_code.markdown().count("from GLM") == 1
    assert "print('from GLM')" in run_code.markdown()
    payload = run_code.reply["payload"]
    assert {"source": "set_next_input", "text": "print('from GLM')", "replace": False} in payload
    assert run_json.ok and checked.ok
    final = run_json.of("update_display_data")[-1].content["data"]["text/markdown"]
    assert '```json\n{"ok": true}\n```' in final


def test_an_answer_without_code_offers_nothing(ip, glm_server, capsys):
    glm_server.queue(Reply(answer="I need more detail first."))
    ip.rl_next_input = None
    out, _ = cell(ip, capsys, "%%glm --code\nDo the thing")
    result = ip.user_ns["_glm"]
    assert (result.code, result.error_code, result.answer) == (
        None,
        "no_code",
        "I need more detail first.",
    )
    assert "no Python code block" in out
    assert ip.rl_next_input is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("```py\nx = 1\n```", "x = 1"),
        ("```\nx = 1\n```", "x = 1"),
        ("```bash\npip install x\n```\n```python\nimport x\n```", "import x"),
        ("Cut off:\n```python\nx = 1\ny = ", "x = 1\ny = "),
        ("no code at all", None),
        ('print("hello")', 'print("hello")'),
        (
            "import pandas as pd\ndf = pd.read_csv('a.csv')\n",
            "import pandas as pd\ndf = pd.read_csv('a.csv')",
        ),
        ("Yes", None),
        ("42", None),
        ("~~~bash\nls\n~~~", None),
    ],
)
def test_the_first_python_block_is_the_code(text, code):
    assert first_code_block(text) == code

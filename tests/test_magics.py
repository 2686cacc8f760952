"""``%%glm`` and ``%glm`` in a real InteractiveShell, against the fake DashScope server.

Every option is checked where it matters: in the body the server received.
Every user mistake is checked for what the user sees (one ``UsageError``
paragraph, no traceback), for what the server saw (nothing), and for the
kernel afterwards (the next cell works).
"""

from __future__ import annotations

import pytest
from conftest import run

from glm_magic import commands
from glm_magic import options as spec
from glm_magic.result import GLMResult
from glm_magic.testing import FakeDashScope


def cell(ip, capsys, source: str):
    """Run a cell as a user would; returns what it printed (stdout, stderr)."""
    run(ip, source)
    return capsys.readouterr()


def body(server) -> dict:
    return server.requests[-1].body


def user_message(server) -> str:
    return body(server)["messages"][-1]["content"]


# -- options reach the request -------------------------------------------------


def test_a_plain_cell_streams_thinking_and_answer_and_stores_the_result(ip, glm_server, capsys):
    out, err = cell(ip, capsys, "%%glm\nWhat is 2 + 2?")
    assert err == ""
    assert "Thinking:" in out
    assert "Answer:" in out
    assert out.index("Thinking:") < out.index("Answer:")
    result = ip.user_ns["_glm"]
    assert isinstance(result, GLMResult)
    assert result.complete
    assert result.answer in out
    sent = body(glm_server)
    assert sent["model"] == "glm-5"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["enable_thinking"] is True
    assert sent["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    for unset in ("temperature", "top_p", "top_k", "max_tokens", "seed", "stop"):
        assert unset not in sent


def test_model_option_picks_the_model(ip, glm_server, capsys):
    cell(ip, capsys, "%%glm -m glm-4.5-air\nhi")
    assert body(glm_server)["model"] == "glm-4.5-air"
    cell(ip, capsys, "%%glm --model glm-4.5\nhi")
    assert body(glm_server)["model"] == "glm-4.5"
    assert ip.user_ns["_glm"].model == "glm-4.5"


def test_thinking_can_be_turned_off_and_on(ip, glm_server, capsys):
    out, _ = cell(ip, capsys, "%%glm --no-thinking\nhi")
    assert body(glm_server)["enable_thinking"] is False
    assert "Thinking:" not in out
    assert ip.user_ns["_glm"].thinking == ""
    cell(ip, capsys, "%%glm --thinking\nhi")
    assert body(glm_server)["enable_thinking"] is True
    assert ip.user_ns["_glm"].thinking


def test_sampling_options_reach_the_request_body(ip, glm_server, capsys):
    cell(
        ip,
        capsys,
        "%%glm -t 0.3 --top-p 0.8 --top-k 5 --max-tokens 200 --seed 42 --stop END --stop '##'\nhi",
    )
    sent = body(glm_server)
    assert sent["temperature"] == 0.3
    assert sent["top_p"] == 0.8
    assert sent["top_k"] == 5  # extra_body: a top-level key on the wire
    assert sent["max_tokens"] == 200
    assert sent["seed"] == 42
    assert sent["stop"] == ["END", "##"]


def test_long_temperature_option_works_too(ip, glm_server, capsys):
    cell(ip, capsys, "%%glm --temperature 0\nhi")
    assert body(glm_server)["temperature"] == 0


def test_system_prompt_is_sent_first(ip, glm_server, capsys):
    cell(ip, capsys, "%%glm -s 'Answer in French.'\nhi")
    assert body(glm_server)["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "hi"},
    ]
    cell(ip, capsys, '%%glm --system "Be brief."\nhi')
    assert body(glm_server)["messages"][0] == {"role": "system", "content": "Be brief."}


def test_out_stores_the_result_under_a_name_and_in_glm(ip, glm_server, capsys):
    cell(ip, capsys, "%%glm -o r_first\nfirst")
    cell(ip, capsys, "%%glm --out r_second\nsecond")
    first, second = ip.user_ns["r_first"], ip.user_ns["r_second"]
    assert "first" in first.answer
    assert "second" in second.answer
    assert ip.user_ns["_glm"] is second


def test_quiet_prints_nothing_but_stores_the_result(ip, glm_server, capsys):
    out, err = cell(ip, capsys, "%%glm --quiet -o r_quiet\nhi")
    assert (out, err) == ("", "")
    assert ip.user_ns["r_quiet"].complete
    assert ip.user_ns["_glm"] is ip.user_ns["r_quiet"]
    assert "hi" in str(ip.user_ns["r_quiet"])


def test_placeholders_are_filled_from_the_notebook(ip, glm_server, capsys):
    run(ip, "r_city = 'Lyon'\nr_rows = [1, 2, 3]")
    cell(ip, capsys, "%%glm\nTell me about {r_city}: {len(r_rows)} rows, {{literal}}.")
    assert user_message(glm_server) == "Tell me about Lyon: 3 rows, {literal}."


def test_raw_sends_braces_as_written(ip, glm_server, capsys):
    prompt = 'Fix this: d = {"a": 1}; print({missing}) {{x}}'
    out, err = cell(ip, capsys, f"%%glm --raw\n{prompt}")
    assert err == ""
    assert user_message(glm_server) == prompt


def test_base_url_option_sends_this_cell_elsewhere(ip, glm_server, capsys):
    with FakeDashScope() as other:
        cell(ip, capsys, f"%%glm --base-url {other.base_url}\nhi")
        assert len(other.requests) == 1
        assert len(glm_server.requests) == 0
    cell(ip, capsys, "%%glm\nhi")
    assert len(glm_server.requests) == 1


def test_base_url_precedence_option_then_config_then_environment(ip, glm_server, capsys):
    with FakeDashScope() as configured, FakeDashScope() as optioned:
        run(ip, f"%config GLMMagics.base_url = '{configured.base_url}'")
        cell(ip, capsys, "%%glm\nhi")
        assert len(configured.requests) == 1
        cell(ip, capsys, f"%%glm --base-url {optioned.base_url}\nhi")
        assert len(optioned.requests) == 1
        assert len(configured.requests) == 1
        assert len(glm_server.requests) == 0
    run(ip, "%config GLMMagics.base_url = ''")
    cell(ip, capsys, "%%glm\nhi")
    assert len(glm_server.requests) == 1


def test_model_precedence_option_then_config_then_environment_then_default(
    ip, glm_server, capsys, monkeypatch
):
    cell(ip, capsys, "%%glm\nhi")
    assert body(glm_server)["model"] == "glm-5"
    monkeypatch.setenv("GLM_MAGIC_MODEL", "glm-4.5")
    cell(ip, capsys, "%%glm\nhi")
    assert body(glm_server)["model"] == "glm-4.5"
    run(ip, "%config GLMMagics.model = 'glm-4.5-air'")
    cell(ip, capsys, "%%glm\nhi")
    assert body(glm_server)["model"] == "glm-4.5-air"
    cell(ip, capsys, "%%glm -m glm-4.6\nhi")
    assert body(glm_server)["model"] == "glm-4.6"


def test_configured_model_limits_apply_to_max_tokens(ip, glm_server, capsys, monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_MODEL", "glm-4.5")
    _, err = cell(ip, capsys, "%%glm --max-tokens 16385\nhi")
    assert "glm-4.5's maximum answer length" in err
    assert len(glm_server.requests) == 0


def test_unknown_models_pass_through_without_local_limits(ip, glm_server, capsys):
    with FakeDashScope(models={"my-model"}) as other:
        out, err = cell(
            ip, capsys, f"%%glm -m my-model --max-tokens 50000 --base-url {other.base_url}\nhi"
        )
        assert err == ""
        sent = other.requests[-1].body
        assert sent["model"] == "my-model"
        assert sent["max_tokens"] == 50000
        assert "enable_thinking" not in sent  # the model's own default applies
        assert ip.user_ns["_glm"].complete


def test_help_reads_in_sections_as_plain_text_without_a_file_line(ip, capsys):
    run(ip, "%%glm?")
    out = capsys.readouterr().out
    assert "Usage: %%glm [-m NAME]" in out
    for section in ("Model:", "Sampling:", "Output:", "Conversation:", "Batch", "Connection:"):
        assert f"\n{section}" in out
    for option in spec.SPEC:
        assert all(flag in out for flag in option.flags), option.name
    assert "File:" not in out, "the path of magics.py would be saved into the notebook"
    assert "``" not in out and "::" not in out, "no reStructuredText markup"
    run(ip, "%glm?")
    out = capsys.readouterr().out
    assert "Usage: %glm [-m NAME]" in out and "File:" not in out
    assert "%glm history NAME" in out and "%glm export NAME FILE.ipynb" in out
    inspected = ip.object_inspect_mime("%%glm")  # what a kernel answers an inspect request
    assert "--temperature" in inspected["text/plain"] and "File:" not in inspected["text/plain"]


def test_a_mistyped_command_is_not_sent_as_a_one_word_prompt(ip, glm_server, capsys):
    run(ip, "%glm modles")
    err = capsys.readouterr().err
    assert "`%glm modles` is no command: did you mean `%glm models`?" in err
    assert "`%glm -- modles`" in err and glm_server.requests == []
    run(ip, "%glm -- modles")
    run(ip, "%glm hello")
    assert [r.body["messages"][-1]["content"] for r in glm_server.requests] == ["modles", "hello"]


def test_a_subcommand_is_one_registered_function(ip, glm_server, capsys):
    @commands.command("echo [WORD]")
    def echo(magics, word="nothing"):
        """Say the word back."""
        print(f"echo: {word}")

    try:
        run(ip, "%glm echo")
        run(ip, "%glm echo hi")
        assert capsys.readouterr().out == "echo: nothing\necho: hi\n"
        assert "%glm echo [WORD] Say the word back." in " ".join(commands.help_text().split())
        run(ip, "%glm echo the whole question")  # more words than it takes: a prompt
        assert glm_server.requests[-1].body["messages"][-1]["content"] == "echo the whole question"
    finally:
        del commands.COMMANDS["echo"], commands.USAGE["echo"]


def test_after_unload_and_reload_config_reaches_the_one_live_instance(ip, glm_server, capsys):
    for command in ("unload_ext", "load_ext", "reload_ext"):
        ip.run_line_magic(command, "glm_magic")
    live = ip.magics_manager.registry["GLMMagics"]
    assert [c for c in ip.configurables if type(c).__name__ == "GLMMagics"] == [live]
    try:
        run(ip, "%config GLMMagics.model = 'glm-4.5'")
        assert live.model == "glm-4.5"
        assert ip.run_line_magic("config", "GLMMagics.model") == "glm-4.5"
        cell(ip, capsys, "%%glm\nhi")
        assert body(glm_server)["model"] == "glm-4.5"
    finally:
        live.model = ""
        live.retry_backoff = 0.01  # as the ip fixture leaves it for the tests after this one


# -- the line magic ------------------------------------------------------------


def test_line_magic_returns_the_result(ip, glm_server, capsys):
    run(ip, "r_x = %glm -m glm-4.5 --no-thinking -s 'Be brief.' What's 6 x 7 -- in 'words'?")
    result = ip.user_ns["r_x"]
    assert isinstance(result, GLMResult)
    assert result.complete
    assert ip.user_ns["_glm"] is result
    sent = body(glm_server)
    assert sent["model"] == "glm-4.5"
    assert sent["enable_thinking"] is False
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What's 6 x 7 -- in 'words'?"},
    ]
    capsys.readouterr()


def test_line_magic_fills_placeholders(ip, glm_server, capsys):
    run(ip, "r_n = 3")
    run(ip, "r_x = %glm --quiet What is {r_n * 2}?")
    assert user_message(glm_server) == "What is 6?"
    assert capsys.readouterr().out == ""


def test_models_shows_the_model_table(ip, glm_server, capsys):
    out, err = cell(ip, capsys, "%glm models")
    for name in ("glm-5", "glm-4.7", "glm-4.6", "glm-4.5", "glm-4.5-air"):
        assert name in out
    assert "202,752" in out
    assert "16,384" in out
    assert [r.path for r in glm_server.requests] == ["/compatible-mode/v1/models"]


def test_config_shows_effective_settings_with_the_key_masked(ip, glm_server, capsys):
    run(ip, "%config GLMMagics.model = 'glm-4.5'")
    out, err = cell(ip, capsys, "%glm config")
    assert glm_server.api_key not in out + err
    assert "glm-4.5" in out
    assert glm_server.base_url in out
    assert "GLM_MAGIC_API_KEY" in out  # where the key came from
    assert glm_server.api_key[-4:] in out  # enough to tell two keys apart
    assert glm_server.requests == []


def test_missing_key_says_where_to_put_one(ip, glm_server, capsys, monkeypatch):
    monkeypatch.delenv("GLM_MAGIC_API_KEY")
    out, err = cell(ip, capsys, "%%glm\nhi")
    assert err.startswith("UsageError:")
    for hint in ("GLM_MAGIC_API_KEY", "DASHSCOPE_API_KEY", "%glm key"):
        assert hint in err
    assert "Traceback" not in out + err
    assert glm_server.requests == []
    out, _ = cell(ip, capsys, "%glm config")
    assert "(not set)" in out


def test_dashscope_api_key_is_used_when_glm_magic_api_key_is_unset(
    ip, glm_server, capsys, monkeypatch
):
    monkeypatch.delenv("GLM_MAGIC_API_KEY")
    monkeypatch.setenv("DASHSCOPE_API_KEY", glm_server.api_key)
    cell(ip, capsys, "%%glm\nhi")
    assert ip.user_ns["_glm"].complete
    assert glm_server.requests[-1].headers["authorization"] == f"Bearer {glm_server.api_key}"


def test_glm_magic_api_key_wins_over_dashscope_api_key(ip, glm_server, capsys, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-some-other-key")
    cell(ip, capsys, "%%glm\nhi")
    assert ip.user_ns["_glm"].complete


# -- user mistakes: one paragraph, nothing sent, kernel usable -------------------

BAD_CELLS = {
    "bad option value": "%%glm -t abc\nhi",
    "unknown option": "%%glm --bogus\nhi",
    "option without its value": "%%glm -s\nhi",
    "unbalanced quote": "%%glm -s 'oops\nhi",
    "empty prompt": "%%glm\n   \n",
    "missing variable": "%%glm\nExplain {r_does_not_exist}",
    "json braces": '%%glm\nParse this JSON: {"a": 1, "b": [1, 2]}',
    "dict literal": "%%glm\nWhat does d = {'x': 1} do?",
    "temperature 2": "%%glm -t 2\nhi",
    "negative temperature": "%%glm -t -0.5\nhi",
    "top-p 0": "%%glm --top-p 0\nhi",
    "top-k -1": "%%glm --top-k -1\nhi",
    "max-tokens above glm-4.6's max answer": "%%glm --max-tokens 16385\nhi",
    "max-tokens 0": "%%glm --max-tokens 0\nhi",
    "invalid -o name": "%%glm -o 1abc\nhi",
    "keyword as -o name": "%%glm -o class\nhi",
    "line magic without prompt": "%glm",
    "line magic unknown option": "%glm --bogus hi",
    "line magic out of range": "%glm --top-p 1.5 hi",
    "line magic missing variable": "%glm Explain {r_does_not_exist}",
}

EXPECTED_HINTS = {
    "bad option value": "--temperature",
    "unknown option": "--bogus",
    "option without its value": "--system",
    "empty prompt": "empty",
    "missing variable": "r_does_not_exist",
    "json braces": "--raw",
    "dict literal": "--raw",
    "temperature 2": "below 2",
    "top-p 0": "above 0",
    "top-k -1": "0 or more",
    "max-tokens above glm-4.6's max answer": "16384",
    "invalid -o name": "1abc",
    "line magic missing variable": "r_does_not_exist",
}


@pytest.mark.parametrize("case", BAD_CELLS)
def test_a_mistake_gives_one_paragraph_sends_nothing_and_the_next_cell_works(
    ip, glm_server, capsys, case
):
    result = run(ip, BAD_CELLS[case])
    out, err = capsys.readouterr()
    assert not result.success
    assert err.startswith("UsageError: ")
    assert err.strip().count("\n") == 0, err  # one paragraph
    assert "Traceback" not in out + err
    assert out == ""
    assert case not in EXPECTED_HINTS or EXPECTED_HINTS[case] in err
    assert len(glm_server.requests) == 0
    assert "_glm" not in ip.user_ns

    out, err = cell(ip, capsys, "%%glm\nStill there?")
    assert err == ""
    assert len(glm_server.requests) == 1
    assert ip.user_ns["_glm"].complete

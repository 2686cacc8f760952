"""Conversations (``-c NAME``) in a real InteractiveShell and kernel, against the fake DashScope.

What the model receives is checked where it matters: in the messages the
server got for each request.
"""

from __future__ import annotations

import os
import time

import nbformat
import pytest
from conftest import run

import glm_magic
from glm_magic import chats
from glm_magic.errors import GLMUsageError
from glm_magic.result import GLMResult
from glm_magic.testing import Fault, Reply


@pytest.fixture
def chat(ip, capsys):
    """The shell with no conversations left over from other tests."""
    ip.run_line_magic("glm", "reset")
    capsys.readouterr()
    return ip


def cell(ip, capsys, source: str, cell_id: str | None = None) -> tuple[str, str]:
    """Run a cell; ``cell_id`` as a notebook front end sends it (None: terminal IPython)."""
    ip.run_cell(source, store_history=True, cell_id=cell_id)
    return capsys.readouterr()


def sent(server, i: int = -1) -> list[dict]:
    return server.requests[i].body["messages"]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


# -- history -------------------------------------------------------------------


def test_a_chat_sends_earlier_turns_but_never_the_thinking(chat, glm_server, capsys):
    glm_server.queue(
        Reply(thinking="Kyoto has temples; SECRET-THOUGHT.", answer="Start at Fushimi Inari."),
        Reply(thinking="Adding food.", answer="Lunch at Nishiki market."),
    )
    cell(chat, capsys, "%%glm -c trip\nPlan a day in Kyoto.")
    cell(chat, capsys, "%%glm -c trip\nAdd lunch.")
    assert sent(glm_server, 0) == [user("Plan a day in Kyoto.")]
    assert sent(glm_server, 1) == [
        user("Plan a day in Kyoto."),
        assistant("Start at Fushimi Inari."),
        user("Add lunch."),
    ]
    assert "SECRET-THOUGHT" not in str(glm_server.requests[1].body)


def test_without_chat_a_cell_is_stateless(chat, glm_server, capsys):
    cell(chat, capsys, "%%glm -c trip\nPlan a day in Kyoto.")
    cell(chat, capsys, "%%glm\nAdd lunch.")
    assert sent(glm_server) == [user("Add lunch.")]


def test_conversations_are_kept_apart_by_name(chat, glm_server, capsys):
    glm_server.queue(Reply(answer="A1"), Reply(answer="B1"), Reply(answer="A2"))
    cell(chat, capsys, "%%glm -c a\nfirst a")
    cell(chat, capsys, "%%glm -c b\nfirst b")
    cell(chat, capsys, "%glm -c a second a")
    assert sent(glm_server) == [user("first a"), assistant("A1"), user("second a")]


def test_the_system_prompt_set_on_any_turn_persists(chat, glm_server, capsys):
    cell(chat, capsys, "%%glm -c lang\nhello")
    cell(chat, capsys, "%%glm -c lang -s 'Answer in French.'\nhow are you")
    cell(chat, capsys, "%%glm -c lang\nand tomorrow")
    assert sent(glm_server, 0)[0]["role"] == "user"
    assert sent(glm_server, 1)[0] == {"role": "system", "content": "Answer in French."}
    assert sent(glm_server, 2)[0] == {"role": "system", "content": "Answer in French."}
    assert [m["role"] for m in sent(glm_server, 2)].count("system") == 1
    cell(chat, capsys, "%%glm -c lang -s 'Answer in German.'\nnext week")
    cell(chat, capsys, "%%glm -c lang\nnext month")
    assert sent(glm_server)[0] == {"role": "system", "content": "Answer in German."}
    cell(chat, capsys, "%%glm -c lang -s ''\nno rules now")
    cell(chat, capsys, "%%glm -c lang\nstill none")
    assert all(m["role"] != "system" for m in sent(glm_server))


def test_last_n_sends_only_the_last_turns_and_keeps_them_all(chat, glm_server, capsys):
    glm_server.queue(*(Reply(answer=f"answer {i}") for i in range(1, 6)))
    for i in (1, 2, 3):
        cell(chat, capsys, f"%%glm -c long\nquestion {i}")
    cell(chat, capsys, "%%glm -c long --last 1\nquestion 4")
    assert sent(glm_server) == [user("question 3"), assistant("answer 3"), user("question 4")]
    cell(chat, capsys, "%%glm -c long --last 0\nquestion 5")
    assert sent(glm_server) == [user("question 5")]
    out, _ = cell(chat, capsys, "%glm chats")
    assert out.splitlines()[2].split()[:2] == ["long", "5"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%%glm --last 2\nhi", "it needs -c NAME"),
        ("%glm --last 2 hi", "it needs -c NAME"),
        ("%%glm -c x --last -1\nhi", "--last must be 0 or more"),
    ],
)
def test_last_needs_a_chat_and_a_count(chat, glm_server, capsys, source, expected):
    result = run(chat, source)
    _, err = capsys.readouterr()
    assert not result.success
    assert err.startswith("UsageError: ") and expected in err
    assert glm_server.requests == []


def test_a_chat_name_must_be_one_word(chat, glm_server, capsys):
    _, err = cell(chat, capsys, "%%glm -c 'my trip'\nhi")
    assert "one-word name" in err
    assert glm_server.requests == []


# -- re-running cells ----------------------------------------------------------


def test_rerunning_a_cell_replaces_its_turn_and_everything_after_it(chat, glm_server, capsys):
    first = "%%glm -c plan\nPlan a day in Kyoto."
    cell(chat, capsys, first, "c1")
    cell(chat, capsys, "%%glm -c plan\nAdd lunch.", "c2")
    cell(chat, capsys, "%%glm -c plan\nAdd dinner.", "c3")
    out, _ = cell(chat, capsys, first, "c1")
    notice = (
        "Chat 'plan': this cell was turn 1; this reply replaces that turn and the 2 turns after it."
    )
    assert notice in out
    assert out.index(notice) < out.index("Answer:"), "said before the reply is shown"
    assert sent(glm_server) == [user("Plan a day in Kyoto.")]
    out, _ = cell(chat, capsys, "%glm chats")
    assert out.splitlines()[2].split()[:2] == ["plan", "1"]


def test_rerunning_the_last_cell_replaces_just_that_turn(chat, glm_server, capsys):
    glm_server.queue(Reply(answer="Fushimi Inari."), Reply(answer="Ramen."), Reply(answer="Soba."))
    cell(chat, capsys, "%%glm -c plan\nPlan a day in Kyoto.", "c1")
    cell(chat, capsys, "%%glm -c plan\nAdd lunch.", "c2")
    out, _ = cell(chat, capsys, "%%glm -c plan\nAdd lunch.", "c2")
    assert "this cell was turn 2; this reply replaces that turn." in out
    assert sent(glm_server) == [
        user("Plan a day in Kyoto."),
        assistant("Fushimi Inari."),
        user("Add lunch."),
    ]
    cell(chat, capsys, "%%glm -c plan\nAnd dinner?")
    assert assistant("Soba.") in sent(glm_server) and assistant("Ramen.") not in sent(glm_server)


def test_a_rerun_is_recognised_in_cells_kept_out_of_the_history(chat, glm_server, capsys):
    for source, cell_id in [("First.", "c1"), ("Second.", "c2"), ("Second.", "c2")]:
        chat.run_cell(f"%%glm -c h\n{source}", cell_id=cell_id)
    out, _ = capsys.readouterr()
    assert "this cell was turn 2; this reply replaces that turn." in out
    assert [m["content"] for m in sent(glm_server) if m["role"] == "user"] == ["First.", "Second."]


def test_without_cell_ids_two_cells_with_the_same_text_are_two_turns(chat, glm_server, capsys):
    """Terminal IPython sends no cell id: "Continue." twice is the story going on, twice."""
    glm_server.queue(Reply(answer="Once."), Reply(answer="Upon."), Reply(answer="A time."))
    for source in ("Start.", "Continue.", "Continue."):
        out, _ = cell(chat, capsys, f"%%glm -c story\n{source}")
        assert "replaces" not in out
    assert [m["content"] for m in sent(glm_server)] == [
        "Start.",
        "Once.",
        "Continue.",
        "Upon.",
        "Continue.",
    ]
    out, _ = cell(chat, capsys, "%glm chats")
    assert out.splitlines()[2].split()[:2] == ["story", "3"]


def test_a_cell_id_given_to_run_cell_identifies_an_edited_cell(chat, glm_server, capsys):
    chat.run_cell("%%glm -c trip\nPlan a day in Kyoto.", cell_id="cell-1")
    chat.run_cell("%%glm -c trip\nAdd lunch.", cell_id="cell-2")
    chat.run_cell("%%glm -c trip\nPlan a day in Osaka.", cell_id="cell-1")
    out, _ = capsys.readouterr()
    assert "this cell was turn 1; this reply replaces that turn and the 1 turn after it." in out
    assert sent(glm_server) == [user("Plan a day in Osaka.")]


def test_an_edited_cell_without_a_cell_id_is_a_new_turn(chat, glm_server, capsys):
    cell(chat, capsys, "%%glm -c plan\nPlan a day in Kyoto.")
    out, _ = cell(chat, capsys, "%%glm -c plan\nPlan a day in Osaka.")
    assert "replaces" not in out
    assert len(sent(glm_server)) == 3


def test_two_chat_lines_in_one_cell_are_two_turns(chat, glm_server, capsys):
    source = "%glm -c two --quiet ask\n%glm -c two --quiet ask"
    cell(chat, capsys, source, "c1")
    assert len(sent(glm_server)) == 3, "the second line continues the first"
    out, _ = cell(chat, capsys, source, "c1")
    assert "this cell was turn 1; this reply replaces that turn and the 1 turn after it." in out
    assert [len(r.body["messages"]) for r in glm_server.requests] == [1, 3, 1, 3]


def test_a_failed_reply_is_not_added_and_a_failed_rerun_keeps_the_turns(chat, glm_server, capsys):
    glm_server.queue(Reply(answer="One."), Fault("invalid_parameter"))
    cell(chat, capsys, "%%glm -c f\nfirst", "c1")
    out, _ = cell(chat, capsys, "%%glm -c f\nsecond", "c2")
    assert "Chat 'f' unchanged: the reply did not complete, so it was not added." in out
    cell(chat, capsys, "%%glm -c f\nthird", "c3")
    assert sent(glm_server) == [user("first"), assistant("One."), user("third")]
    glm_server.queue(Fault("invalid_parameter"))
    out, _ = cell(chat, capsys, "%%glm -c f\nfirst", "c1")
    assert "not added; the earlier turns are kept." in out
    out, _ = cell(chat, capsys, "%glm chats")
    assert out.splitlines()[2].split()[:2] == ["f", "2"]


# -- from Python -------------------------------------------------------------------


def test_python_continues_the_conversation_a_cell_started_and_back(chat, glm_server, capsys):
    glm_server.queue(Reply(answer="Start at Fushimi Inari."), Reply(answer="Nishiki market."))
    cell(chat, capsys, "%%glm -c trip\nPlan a day in Kyoto.")
    trip = glm_magic.chat("trip")
    result = trip.send("Add lunch.")
    assert isinstance(result, GLMResult) and result.answer == "Nishiki market."
    assert sent(glm_server) == [
        user("Plan a day in Kyoto."),
        assistant("Start at Fushimi Inari."),
        user("Add lunch."),
    ]
    assert trip.messages == [*sent(glm_server), assistant("Nishiki market.")]
    cell(chat, capsys, "%%glm -c trip\nAnd dinner?")
    assert sent(glm_server)[-3:] == [
        user("Add lunch."),
        assistant("Nishiki market."),
        user("And dinner?"),
    ]
    assert repr(trip) == "<Chat 'trip': 3 turns>"


def test_send_takes_the_api_options_and_the_system_prompt_persists(chat, glm_server, capsys):
    lang = glm_magic.chat("lang")
    lang.send("hello", system="Answer in French.", temperature=0.2, thinking=False)
    lang.send("and tomorrow")
    assert sent(glm_server)[0] == {"role": "system", "content": "Answer in French."}
    assert glm_server.requests[0].body["temperature"] == 0.2
    assert lang.messages[0] == {"role": "system", "content": "Answer in French."}
    lang.send("only this", last=0)
    assert sent(glm_server) == [
        {"role": "system", "content": "Answer in French."},
        user("only this"),
    ]


def test_send_refuses_what_the_magic_would_refuse_before_sending(chat, glm_server):
    talk = glm_magic.chat("talk")
    with pytest.raises(TypeError, match="Did you mean temperature"):
        talk.send("hi", temprature=0.5)
    with pytest.raises(GLMUsageError, match="--last must be 0 or more"):
        talk.send("hi", last=-1)
    with pytest.raises(GLMUsageError, match="one-word name"):
        glm_magic.chat("two words")
    assert glm_server.requests == [] and talk.messages == []


def test_a_failed_send_is_not_added_and_reset_forgets_the_turns(chat, glm_server, capsys):
    glm_server.queue(Reply(answer="One."), Fault("invalid_parameter"))
    notes = glm_magic.chat("notes")
    notes.send("first")
    assert not notes.send("second").complete
    assert "Chat 'notes' unchanged" in capsys.readouterr().out
    assert notes.messages == [user("first"), assistant("One.")]
    notes.reset()
    assert notes.messages == []
    out, _ = cell(chat, capsys, "%glm chats")
    assert "No conversations yet" in out


# -- size ----------------------------------------------------------------------


def test_a_conversation_over_the_max_input_is_refused_with_nothing_sent(chat, glm_server, capsys):
    chat.user_ns["r_report"] = "lorem " * 33_000  # ~66k estimated tokens; !s sends it whole
    glm_server.queue(Reply(answer="Read it."), Reply(answer="Short."), Reply(answer="Fine."))
    cell(chat, capsys, "%%glm -c doc -m glm-4.5\nRead this: {r_report!s}")
    cell(chat, capsys, "%%glm -c doc -m glm-4.5\nSummarise it.")
    requests = len(glm_server.requests)
    result = run(chat, "%%glm -c doc -m glm-4.5\nAnd now this one: {r_report!s}")
    _, err = capsys.readouterr()
    assert not result.success
    assert err.startswith("UsageError: Chat 'doc' is too long for glm-4.5")
    assert "over its max input of 98,304" in err and "Nothing was sent." in err
    assert "--last 1" in err and "%glm reset doc" in err
    assert len(glm_server.requests) == requests
    cell(chat, capsys, "%%glm -c doc -m glm-4.5 --last 1\nAnd now this one: {r_report!s}")
    assert sent(glm_server)[:2] == [user("Summarise it."), assistant("Short.")]
    out, _ = cell(chat, capsys, "%glm chats")
    assert out.splitlines()[2].split()[:2] == ["doc", "3"], "no turn was dropped"


def test_a_prompt_too_long_by_itself_says_to_shorten_it(chat, glm_server, capsys):
    chat.user_ns["r_huge"] = "字" * 100_000
    _, err = cell(chat, capsys, "%%glm -c huge -m glm-4.5\n{r_huge!s}")
    assert "alone is about 100,00" in err and "shorten it" in err
    assert glm_server.requests == []


# -- tools ---------------------------------------------------------------------


def test_with_tools_the_tool_turns_become_part_of_the_conversation(chat, glm_server, capsys):
    def r_rate(currency: str) -> float:
        """Today's exchange rate to CNY."""
        return 7.2

    chat.user_ns["r_rate"] = r_rate
    glm_server.queue(
        Reply(
            thinking="Look it up.",
            tool_calls=[{"name": "r_rate", "arguments": {"currency": "USD"}}],
        ),
        Reply(thinking="Got it.", answer="7.2 CNY per USD."),
        Reply(answer="14.4 CNY."),
    )
    cell(chat, capsys, "%%glm -c fx --tools r_rate\nUSD rate?")
    cell(chat, capsys, "%%glm -c fx\nAnd for two dollars?")
    messages = sent(glm_server)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user"]
    call = messages[1]["tool_calls"][0]
    assert call["function"]["name"] == "r_rate"
    assert messages[2]["tool_call_id"] == call["id"] and "7.2" in messages[2]["content"]
    assert messages[3] == assistant("7.2 CNY per USD.")
    assert "Look it up." not in str(messages) and "Got it." not in str(messages)


def test_a_tool_run_goes_back_as_its_messages_in_order():
    """The tool loop puts every message it added on ``result.messages``; they become history.

    The loop never puts thinking there (the test above checks it is not sent back).
    """
    messages = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "rate", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "7.2"},
        {"role": "assistant", "content": "The rate is 7.2."},
    ]
    result = GLMResult(
        answer="The rate is 7.2.", complete=True, finish_reason="stop", messages=messages
    )
    first = chats.prepare("fx-tools", "k1", "What is the rate?", model="glm-4.6")
    first.finish(result)
    try:
        second = chats.prepare("fx-tools", "k2", "And doubled?", model="glm-4.6")
        assert second.history[0] == user("What is the rate?")
        assert [m["role"] for m in second.history] == ["user", "assistant", "tool", "assistant"]
        assert second.history[1]["tool_calls"][0]["id"] == "c1"
    finally:
        del chats.CHATS["fx-tools"]


# -- commands ------------------------------------------------------------------


def test_chats_lists_name_turns_tokens_and_model(chat, glm_server, capsys):
    out, _ = cell(chat, capsys, "%glm chats")
    assert "No conversations yet" in out
    cell(chat, capsys, "%%glm -c alpha -m glm-4.5-air\nhello")
    cell(chat, capsys, "%%glm -c alpha -m glm-4.5-air\nagain")
    cell(chat, capsys, "%%glm -c beta\nhi")
    out, _ = cell(chat, capsys, "%glm chats")
    header, _, alpha, beta = out.splitlines()
    assert header.split() == ["chat", "turns", "tokens", "(est.)", "model"]
    name, turns, tokens, model = alpha.split()
    assert (name, turns, model) == ("alpha", "2", "glm-4.5-air")
    assert int(tokens.replace(",", "")) == chats.CHATS["alpha"].tokens() > 0
    assert beta.split()[:2] == ["beta", "1"]


def test_history_shows_the_conversation_with_thinking_collapsed(chat, glm_server, capsys):
    glm_server.queue(Reply(thinking="Mulling <it> over.", answer="**Yes.**"))
    cell(chat, capsys, "%%glm -c h -s 'Be kind.'\nIs it fine?")
    out, _ = cell(chat, capsys, "%glm history h")
    assert "System prompt from here on: Be kind." in out
    assert "You (turn 1):\nIs it fine?" in out and "**Yes.**" in out
    bundle = chats.history_bundle(chats.CHATS["h"])
    md = bundle["text/markdown"]
    assert "<details><summary>Thinking" in md and "Mulling &lt;it&gt; over." in md
    assert md.index("Is it fine?") < md.index("<details>") < md.index("**Yes.**")


def test_history_and_reset_of_an_unknown_chat_list_the_chats(chat, glm_server, capsys):
    cell(chat, capsys, "%%glm -c known\nhi")
    requests = len(glm_server.requests)
    for source in ("%glm history nope", "%glm reset nope", "%glm export nope x.ipynb"):
        _, err = cell(chat, capsys, source)
        assert "No chat named 'nope' (chats: known)" in err
        assert f"`%glm -- {source[5:]}`" in err
    _, err = cell(chat, capsys, "%glm history")
    assert "Which chat?" in err
    assert len(glm_server.requests) == requests


def test_prompts_that_start_like_a_command_are_still_prompts(chat, glm_server, capsys):
    cell(chat, capsys, "%glm history of Rome in one line")
    assert sent(glm_server) == [user("history of Rome in one line")]
    cell(chat, capsys, "%glm -- reset")
    assert sent(glm_server) == [user("reset")]
    cell(chat, capsys, "%glm usage of semicolons in prose")
    assert sent(glm_server) == [user("usage of semicolons in prose")]


def test_reset_clears_one_chat_or_all(chat, glm_server, capsys):
    for name in ("one", "two", "three"):
        cell(chat, capsys, f"%%glm -c {name}\nhi {name}")
    out, _ = cell(chat, capsys, "%glm reset two")
    assert out.strip() == "Chat 'two' cleared (1 turn)."
    cell(chat, capsys, "%%glm -c two\nfresh start")
    assert sent(glm_server) == [user("fresh start")]
    out, _ = cell(chat, capsys, "%glm reset")
    assert out.strip() == "Cleared 3 chats (3 turns)."
    out, _ = cell(chat, capsys, "%glm chats")
    assert "No conversations yet" in out


def test_export_writes_a_valid_notebook_that_reads_back(chat, glm_server, capsys, tmp_path):
    glm_server.queue(
        Reply(thinking="Counting primes.", answer="2, 3, 5"),
        Reply(thinking="Next ones.", answer="7, 11"),
    )
    cell(chat, capsys, "%%glm -c primes -s 'Be terse.'\nFirst three primes?")
    cell(chat, capsys, "%%glm -c primes\nTwo more?")
    path = tmp_path / "out" / "primes.ipynb"
    out, err = cell(chat, capsys, f"%glm export primes {path}")
    assert err == ""
    assert out.strip() == f"Wrote chat 'primes' (2 turns) to {path}"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown"] * 5
    title, ask1, reply1, ask2, reply2 = nb.cells
    assert "# Chat `primes`" in title.source
    assert "Be terse." in ask1.source and "First three primes?" in ask1.source
    assert "Be terse." not in ask2.source, "the system prompt is shown where it changes"
    assert "<details>" in reply1.source and "Counting primes." in reply1.source
    assert "2, 3, 5" in reply1.source and "7, 11" in reply2.source
    assert ask1.metadata["glm_magic"] == {"role": "user", "turn": 1, "system": "Be terse."}
    meta = reply2.metadata["glm_magic"]
    usage = chat.user_ns["_glm"].usage
    assert meta["role"] == "assistant" and meta["model"] == "glm-5"
    assert meta["usage"]["total_tokens"] == usage.total_tokens > 0
    assert meta["usage"]["reasoning_tokens"] == usage.reasoning_tokens
    assert glm_server.api_key not in path.read_text()


def test_export_overwrites_only_its_own_files(chat, glm_server, capsys, tmp_path):
    cell(chat, capsys, "%%glm -c e\nhi")
    path = tmp_path / "chat.ipynb"
    cell(chat, capsys, f"%glm export e {path}")
    cell(chat, capsys, "%%glm -c e\nmore")
    _, err = cell(chat, capsys, f"%glm export e {path}")
    assert err == ""
    assert len(nbformat.read(path, as_version=4).cells) == 5
    mine = tmp_path / "analysis.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), mine)
    before = mine.read_text()
    _, err = cell(chat, capsys, f"%glm export e {mine}")
    assert "is not a glm-magic export" in err and mine.read_text() == before
    _, err = cell(chat, capsys, f"%glm export e {tmp_path / 'chat.txt'}")
    assert ".ipynb" in err


# -- in a real kernel ------------------------------------------------------------


def test_in_a_kernel_the_front_ends_cell_id_identifies_the_cell(kernel, glm_server):
    """JupyterLab sends ``cellId`` with each execution; an edited cell is still the same cell."""
    glm_server.queue(
        Reply(thinking="Thinking about A.", answer="A."),
        Reply(answer="B."),
        Reply(thinking="Thinking about A again.", answer="A, reworded."),
    )
    cell_a, cell_b = {"cellId": "cell-a"}, {"cellId": "cell-b"}
    assert kernel.execute("%%glm -c k\nFirst question.", metadata=cell_a).ok
    assert kernel.execute("%%glm -c k\nSecond question.", metadata=cell_b).ok
    run = kernel.execute("%%glm -c k\nFirst question, reworded.", metadata=cell_a)
    assert (
        "Chat 'k': this cell was turn 1; this reply replaces that turn and the 1 turn after it."
        in run.text()
    )
    assert sent(glm_server) == [user("First question, reworded.")]
    shown = kernel.execute("%glm history k").of("display_data")[-1].content["data"]
    assert (
        "<details>" in shown["text/markdown"]
        and "Thinking about A again." in shown["text/markdown"]
    )
    assert "Second question." not in shown["text/markdown"]


def test_under_nbclient_two_cells_with_the_same_text_are_two_turns(glm_server_session, tmp_path):
    """nbclient (and papermill through it) sends no cell id: every cell adds its turn."""
    from nbclient import NotebookClient

    server = glm_server_session
    server.reset()
    server.queue(Reply(answer="Once."), Reply(answer="Upon."), Reply(answer="A time."))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext glm_magic")] + [
        nbformat.v4.new_code_cell(f"%%glm -c story --no-thinking\n{text}")
        for text in ("Start.", "Continue.", "Continue.")
    ]
    env = {
        **os.environ,
        "GLM_MAGIC_BASE_URL": server.base_url,
        "GLM_MAGIC_API_KEY": server.api_key,
        "GLM_MAGIC_HOME": str(tmp_path),
    }
    NotebookClient(nb, kernel_name="python3", timeout=120, startup_timeout=120).execute(env=env)
    assert [m["content"] for m in server.requests[-1].body["messages"]] == [
        "Start.",
        "Once.",
        "Continue.",
        "Upon.",
        "Continue.",
    ]
    shown = str(nb.cells[3].outputs)
    assert "A time." in shown and "replaces" not in shown


def test_in_a_kernel_an_interrupted_reply_is_kept_and_marked(kernel, glm_server):
    glm_server.queue(Reply(answer=" ".join(f"word{i}" for i in range(400)), delay=0.02))
    kernel.client.execute("%%glm -c story --no-thinking\nTell a long story.")
    deadline = time.monotonic() + 10
    while not glm_server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    kernel.interrupt()
    kernel.client.get_shell_msg(timeout=30)
    assert glm_server.wait_for_disconnect(timeout=5)
    run = kernel.execute("%%glm -c story --no-thinking\nGo on.")
    messages = sent(glm_server)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"].startswith("word0 word1")
    assert "word399" not in messages[1]["content"]
    shown = kernel.execute("%glm history story").of("display_data")[-1].content["data"]
    assert "Interrupted by the user" in shown["text/markdown"]
    assert run.ok


def test_a_chat_continued_after_a_restart_finds_its_turns_in_the_store(ip, glm_server, store_home):
    glm_server.queue(Reply(answer="Hello, Ada."), Reply(answer="You are Ada."))
    run(ip, "%%glm -c restart_talk -s 'Be brief.'\nMy name is Ada.")
    chats.CHATS.clear()  # what a restarted kernel has in memory
    run(ip, "%%glm -c restart_talk\nWhat is my name?")
    sent = glm_server.requests[-1].body["messages"]
    assert [m["content"] for m in sent] == [
        "Be brief.",
        "My name is Ada.",
        "Hello, Ada.",
        "What is my name?",
    ]
    chats.CHATS.clear()
    assert len(chats.lookup("restart_talk").turns) == 2


def test_history_and_chats_read_the_store_and_a_reset_is_remembered(
    ip, glm_server, store_home, capsys
):
    run(ip, "%%glm -c kept\nFirst question.")
    chats.CHATS.clear()
    run(ip, "%glm chats")
    assert "kept" in capsys.readouterr().out
    chats.CHATS.clear()
    run(ip, "%glm history kept")
    assert "First question." in capsys.readouterr().out
    run(ip, "%glm reset kept")
    chats.CHATS.clear()
    run(ip, "%glm history kept")
    assert "No chat named 'kept'" in capsys.readouterr().err

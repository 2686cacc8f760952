"""Background runs: `%%glm --bg` returns at once, the result fills in; `%glm jobs`, `stop`."""

from __future__ import annotations

import time

import pytest
from conftest import run

from glm_magic import jobs
from glm_magic.result import GLMResult, RunningResult
from glm_magic.testing import Reply

WORDS = " ".join(f"w{i}" for i in range(60))
SLOW = Reply(thinking="Let me think. " * 5, answer=WORDS, chunk_chars=4, delay=0.02)  # ~2 s


@pytest.fixture(autouse=True)
def no_runs_left():
    yield
    jobs.stop()


def test_a_background_cell_returns_at_once_and_its_result_fills_in(ip, glm_server, capsys):
    glm_server.queue(SLOW)
    started = time.monotonic()
    run(ip, "%%glm --bg -o r_bg\nTalk a while.")
    assert time.monotonic() - started < 1.0, "the cell did not wait for the reply"
    r = ip.user_ns["r_bg"]
    assert ip.user_ns["_glm"] is r
    assert isinstance(r, RunningResult) and r.done is False
    assert "running in the background as r_bg" in repr(r)

    listed = run(ip, "%glm jobs")
    assert listed.success
    out = capsys.readouterr().out
    assert "r_bg" in out and r.model in out and " s " in out

    assert r.answer == WORDS, "reading the answer waits for the end"
    assert "[waiting for the background run r_bg to finish]" in capsys.readouterr().out
    assert r.done and r.wait(0) and type(r) is GLMResult
    assert r.complete and r.finish_reason == "stop" and r.thinking.startswith("Let me think.")
    assert r.usage.completion_tokens > 0
    assert jobs.running() == []


def test_str_and_wait_give_the_finished_result(ip, glm_server):
    glm_server.queue(SLOW)
    run(ip, "%%glm --bg --quiet -o r_str\nTalk a while.")
    r = ip.user_ns["r_str"]
    assert r.wait(0.05) is False, "wait with a timeout says it is still running"
    assert str(r) == WORDS
    assert r.wait() is True


def test_several_run_at_once_and_stop_stops_the_one_named(ip, glm_server, capsys):
    glm_server.queue(SLOW, SLOW)
    run(ip, "%%glm --bg --quiet -o r_one\nFirst.")
    run(ip, "%%glm --bg --quiet -o r_two\nSecond.")
    deadline = time.monotonic() + 5
    while len(glm_server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert {job.name for job in jobs.running()} == {"r_one", "r_two"}
    time.sleep(0.3)
    capsys.readouterr()
    run(ip, "%glm stop r_one")
    assert "Stopped: r_one." in capsys.readouterr().out
    one, two = ip.user_ns["r_one"], ip.user_ns["r_two"]
    assert one.done and one.finish_reason == "interrupted" and one.thinking.startswith("Let")
    assert not two.done
    assert glm_server.wait_for_disconnect(timeout=2)
    assert two.answer == WORDS and two.complete


def test_stop_without_a_name_stops_them_all(ip, glm_server, capsys):
    glm_server.queue(SLOW, SLOW)
    run(ip, "%%glm --bg --quiet -o r_one\nFirst.")
    run(ip, "%glm --bg --quiet -o r_two Second.")
    time.sleep(0.5)
    run(ip, "%glm stop")
    assert "Stopped: r_one, r_two." in capsys.readouterr().out
    assert [ip.user_ns[n].finish_reason for n in ("r_one", "r_two")] == ["interrupted"] * 2
    run(ip, "%glm stop")
    assert "Stopped: nothing was running." in capsys.readouterr().out


def test_a_background_line_that_ends_its_cell_shows_nothing_to_wait_for(ip, glm_server):
    glm_server.queue(SLOW)
    started = time.monotonic()
    shown = run(ip, "%glm --bg --quiet Talk a while.")
    assert shown.result is None and time.monotonic() - started < 1.0
    assert ip.user_ns["_glm"].answer == WORDS


def test_a_background_chat_turn_is_added_when_it_ends(ip, glm_server, capsys):
    glm_server.queue(Reply(answer="First answer."), Reply(answer="Second answer."))
    run(ip, "%%glm --bg --quiet -c r_bgchat\nFirst question.")
    ip.user_ns["_glm"].wait()
    run(ip, "%%glm --quiet -c r_bgchat\nSecond question.")
    sent = [m["content"] for m in glm_server.requests[-1].body["messages"]]
    assert sent == ["First question.", "First answer.", "Second question."]


def test_bg_is_for_one_prompt_not_a_batch(ip, glm_server, capsys):
    run(ip, "%%glm --bg --each \"['a', 'b']\"\n{item}")
    assert "--bg runs one prompt in the background" in capsys.readouterr().err
    assert glm_server.requests == []


def test_a_second_turn_of_a_chat_waits_for_its_background_turn(ip, glm_server, capsys):
    glm_server.queue(SLOW, Reply(answer="Second reply."))
    run(ip, "%%glm --bg --quiet -c bgchat -o r_first\nFirst.")
    assert run(ip, "%%glm --bg --quiet -c bgchat -o r_second\nSecond.").success
    assert "waiting for its background turn" in capsys.readouterr().out
    ip.user_ns["r_second"].wait()
    sent = [m["content"] for m in glm_server.requests[-1].body["messages"]]
    assert sent == ["First.", WORDS, "Second."], "the second turn carries the first's reply"
    run(ip, "%glm reset bgchat")

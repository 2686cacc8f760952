"""``%glm usage``: every run adds up per provider and model, this session, today and all
time, against the free quota."""

from __future__ import annotations

from conftest import run

import glm_magic
from glm_magic import ledger
from glm_magic.testing import Fault, Reply


def cell(ip, capsys, source: str) -> tuple[str, str]:
    run(ip, source)
    return capsys.readouterr()


def usage(prompt: int, completion: int, reasoning: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def usage_row(out: str, model: str, section: str = "This session") -> list[int]:
    """runs, prompt, completion, thinking, total of ``model`` in a section of the report
    (zeros when the section or the model is not there)."""
    block = out.split(section + "\n", 1)[-1].split("\n\n", 1)[0] if section in out else ""
    rows = [line.split() for line in block.splitlines() if line.split()[1:2] == [model]]
    return [int(n.replace(",", "")) for n in rows[0][2:7]] if rows else [0] * 5


def test_usage_adds_up_every_run_per_model(ip, glm_server, capsys):
    out, _ = cell(ip, capsys, "%glm usage")
    before = usage_row(out, "glm-4.5-air")
    stored_before = usage_row(out, "glm-4.5-air", "All time")
    glm_server.queue(
        Reply(answer="a", usage=usage(100, 40, 30)),
        Reply(answer="b", usage=usage(200, 60, 0)),
        Reply(answer="c", usage=usage(7, 3, 1)),
    )
    cell(ip, capsys, "%%glm -m glm-4.5-air -c u\none")
    cell(ip, capsys, "%glm -m glm-4.5-air two")
    glm_magic.complete("three", model="glm-4.5-air")
    out, _ = cell(ip, capsys, "%glm usage")
    after = usage_row(out, "glm-4.5-air")
    runs, prompt, completion, thinking, total = (a - b for a, b in zip(after, before, strict=True))
    assert (runs, prompt, completion, thinking, total) == (3, 307, 103, 31, 410)
    stored = usage_row(out, "glm-4.5-air", "All time")
    assert stored[0] - stored_before[0] == 3
    assert usage_row(out, "glm-4.5-air", "Today")[0] >= 3
    left = 1_000_000 - stored[4]
    assert f"{left:,} of 1,000,000" in out
    assert "¥" in out, "DashScope's glm-4.5-air price is known: a cost is shown"


def test_a_dated_model_id_counts_against_the_asked_models_free_quota(
    ip, glm_server, capsys, store_home
):
    glm_server.queue(Reply(answer="a", usage=usage(100, 50, 0), model="glm-4.5-air-0401"))
    out, _ = cell(ip, capsys, "%glm usage")
    before = usage_row(out, "glm-4.5-air")
    cell(ip, capsys, "%glm -m glm-4.5-air one")
    out, _ = cell(ip, capsys, "%glm usage")
    assert "glm-4.5-air-0401" not in out
    after = usage_row(out, "glm-4.5-air")
    assert after[0] - before[0] == 1 and after[4] - before[4] == 150
    stored = usage_row(out, "glm-4.5-air", "All time")
    assert stored[:5] == [1, 100, 50, 0, 150]
    assert f"{1_000_000 - 150:,} of 1,000,000" in out


def test_usage_survives_a_restart_through_the_store(ip, glm_server, capsys, store_home):
    glm_server.queue(Reply(answer="a", usage=usage(10, 5, 0)))
    cell(ip, capsys, "%glm -m glm-4.5 hi")
    ledger.LEDGER.clear()  # what a restarted kernel has in memory
    out, _ = cell(ip, capsys, "%glm usage")
    assert "This session" not in out
    assert usage_row(out, "glm-4.5", "All time")[:2] == [1, 10]


def test_with_the_store_off_usage_says_it_counts_this_session_only(ip, glm_server, capsys):
    ip.magics_manager.registry["GLMMagics"].log = False
    glm_server.queue(Reply(answer="a", usage=usage(10, 5, 0)))
    cell(ip, capsys, "%glm -m glm-4.5 hi")
    out, _ = cell(ip, capsys, "%glm usage")
    assert "The store is off" in out
    assert "All time" not in out


def test_a_failed_run_counts_as_a_run_with_no_tokens(ip, glm_server, capsys):
    key = ("dashscope", "glm-4.5")
    entry = ledger.LEDGER.get(key)
    runs, total = (entry.runs, entry.tokens) if entry else (0, 0)
    glm_server.queue(Fault("invalid_parameter"))
    cell(ip, capsys, "%%glm -m glm-4.5\nhi")
    assert ledger.LEDGER[key].runs == runs + 1
    assert ledger.LEDGER[key].tokens == total


def test_an_interrupted_run_counts_estimated_tokens_marked_as_such(ip, glm_server, capsys):
    from conftest import interrupt_after

    glm_server.queue(Reply(thinking="Pondering. " * 20, answer="word " * 200, delay=0.01))
    with interrupt_after(0.8):
        out, _ = cell(ip, capsys, "%%glm -m glm-4.5-air -o r_cut\nTalk a while.")
    result = ip.user_ns["r_cut"]
    assert result.finish_reason == "interrupted"
    u = result.usage
    assert u.estimated and u.completion_tokens > u.reasoning_tokens > 0 and u.prompt_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert f"~{u.completion_tokens:,} out (estimated)" in out
    report, _ = cell(ip, capsys, "%glm usage")
    session = report.split("This session\n", 1)[1].split("\n\n", 1)[0]
    [row] = [line for line in session.splitlines() if " glm-4.5-air " in line]
    assert row.count("~") == 4, "prompt, completion, thinking and total are marked"
    assert "interrupted run whose tokens are estimated" in report


def test_a_dropped_stream_counts_what_it_streamed_as_estimated_tokens(ip, glm_server):
    glm_server.queue(Fault("drop", after_chunks=3, reply=Reply(answer="word " * 40)))
    result = glm_magic.complete("Talk a while.")
    assert result.finish_reason == "incomplete" and result.answer
    assert result.usage.estimated and result.usage.completion_tokens > 0


def test_a_finished_run_reports_the_providers_usage_not_an_estimate(ip, glm_server):
    glm_server.queue(Reply(answer="a", usage=usage(10, 5, 0)))
    assert glm_magic.complete("short").usage.estimated is False

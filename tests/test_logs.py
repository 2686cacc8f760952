"""``%glm log`` and ``glm_magic.log()``: the stored runs, searchable, as a table or a DataFrame."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from conftest import run

import glm_magic
from glm_magic import logs
from glm_magic.testing import Reply


def test_the_last_runs_newest_first_as_records_a_dataframe_takes(ip, glm_server, store_home):
    for word in ("alpha", "beta", "gamma"):
        run(ip, f"%glm -m glm-4.5 say {word}")
    records = glm_magic.log(n=2)
    assert [r["prompt"] for r in records] == ["say gamma", "say beta"]
    frame = pd.DataFrame(records)
    assert list(frame["model"]) == ["glm-4.5", "glm-4.5"]
    assert {"time", "answer", "thinking", "cost", "currency", "total_tokens"} <= set(frame.columns)
    assert records[0]["options"] == {"model": "glm-4.5"}


def test_search_finds_words_in_prompts_and_answers(ip, glm_server, store_home):
    glm_server.queue(Reply(answer="The capital is Paris."), Reply(answer="Blue whales."))
    run(ip, "%glm -m glm-4.5 capital of France")
    run(ip, "%glm -m glm-4.5 biggest animal")
    assert [r["prompt"] for r in glm_magic.log(search="paris")] == ["capital of France"]
    assert [r["prompt"] for r in glm_magic.log(search='animal "quote')] == []
    assert [r["prompt"] for r in glm_magic.log(search="biggest animal")] == ["biggest animal"]


def test_the_log_renders_as_a_table_in_a_notebook_and_as_text(ip, glm_server, store_home, capsys):
    run(ip, "%glm -m glm-4.5 <b>tag</b> here")
    records = glm_magic.log()
    page = records._repr_html_()
    assert "<table>" in page and "&lt;b&gt;tag" in page
    assert "<td style='text-align:left'>¥0." in page, "the cost at the fake DashScope's price"
    run(ip, "%glm log -n 5 tag")
    out = capsys.readouterr().out
    assert "1 stored runs matching 'tag'" in out and "glm-4.5" in out


def test_an_empty_store_says_so(store_home):
    assert repr(glm_magic.log()) == "No runs stored yet."
    assert not store_home.exists()


def test_prune_forgets_runs_older_than_some_days(ip, glm_server, store_home, capsys):
    run(ip, "%glm -m glm-4.5 old one")
    from glm_magic import store

    store.current().execute("UPDATE runs SET time = ?", (time.time() - 10 * 86_400,))
    run(ip, "%glm -m glm-4.5 new one")
    run(ip, "%glm log --prune 7")
    assert "Removed 1 stored runs older than 7 days." in capsys.readouterr().out
    assert [r["prompt"] for r in glm_magic.log()] == ["new one"]
    assert [r["prompt"] for r in glm_magic.log(search="old")] == []


@pytest.mark.parametrize(
    "words", [["-n"], ["-n", "zero"], ["--prune", "-3"], ["--prune", "7", "extra"]]
)
def test_bad_log_arguments_say_how_to_write_them(words):
    with pytest.raises(glm_magic.GLMUsageError):
        logs.command(words)


def test_without_fts5_search_falls_back_to_a_substring_match(ip, glm_server, store_home):
    from glm_magic import store

    glm_server.queue(Reply(answer="100% sure: Paris_city."), Reply(answer="Blue whales."))
    run(ip, "%glm -m glm-4.5 capital of France")
    run(ip, "%glm -m glm-4.5 biggest animal")
    store.current().fts = False  # as on an SQLite built without FTS5
    assert [r["prompt"] for r in glm_magic.log(search="paris_c")] == ["capital of France"]
    assert [r["prompt"] for r in glm_magic.log(search="100%")] == ["capital of France"]
    assert [r["prompt"] for r in glm_magic.log(search="_")] == ["capital of France"]

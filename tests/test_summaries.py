"""Notebook values in prompts: DataFrames as summaries, long values cut, history and errors.

The summaries are checked for what the model needs (shape, dtypes, first
rows, a note of what it does not see) and for the budget; the magic is
checked for what the server received.
"""

from __future__ import annotations

import gc
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import run

from glm_magic.summaries import summarize


@pytest.fixture
def sales() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city": ["Hangzhou", "Ningbo", "Wenzhou", "Shaoxing"] * 250,
            "sales": np.arange(1000) * 1.5,
            "units": np.arange(1000),
        }
    )


def cell(ip, capsys, source: str):
    run(ip, source)
    return capsys.readouterr()


def prompt_sent(server) -> str:
    return server.requests[-1].body["messages"][-1]["content"]


# -- summaries -----------------------------------------------------------------


def rows_shown(text: str) -> list[str]:
    """The data rows of the summary's last table."""
    table = text[text.rindex("|  |") :].splitlines()
    return [line for line in table[2:] if line.startswith("| ")]


def test_a_dataframe_reads_as_shape_dtypes_statistics_and_rows(sales):
    text = summarize(sales)
    lines = text.splitlines()
    assert lines[0] == "pandas DataFrame: 1,000 rows x 3 columns"
    assert "city (" in lines[1] and "sales (float64)" in lines[1] and "units (int64)" in lines[1]
    assert lines[2] == "Numeric columns:"
    assert lines[3] == "| statistic | sales | units |"
    assert "| mean | 749.25 | 499.5 |" in lines
    assert "| max | 1498.5 | 999.0 |" in lines
    top = "Hangzhou (250), Ningbo (250), Wenzhou (250), Shaoxing (250)"
    assert f"- city: 4 distinct; {top}" in lines
    assert "Rows:" in lines
    assert lines[-1].startswith("[") and "spread evenly" in lines[-1]


def test_a_question_about_trends_sees_rows_from_all_over_the_frame(sales):
    rows = rows_shown(summarize(sales))
    assert len(rows) > 50
    assert rows[0].startswith("| 0 | Hangzhou | 0.0 | 0 |")
    assert rows[-1].startswith("| 999 | Shaoxing | 1498.5 | 999 |")


def test_null_counts_and_floats_read_as_pandas_prints_them():
    frame = pd.DataFrame({"price": [378.09999999999997, None, 0.1 + 0.2], "n": [1, 2, 3]})
    text = summarize(frame)
    assert "price (float64, 1 null)" in text
    assert "| 0 | 378.1 | 1 |" in text and "| 1 | NaN | 2 |" in text and "| 2 | 0.3 | 3 |" in text


@pytest.mark.parametrize("budget", [300, 800, 4000])
def test_the_summary_stays_within_the_budget_and_says_what_it_left_out(sales, budget):
    text = summarize(sales, budget)
    assert len(text) <= budget
    shown = len(rows_shown(text))
    assert f"[{1000 - shown:,} more rows not shown" in text.splitlines()[-1]


def test_a_small_frame_is_shown_whole_without_a_note():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x|y", "long\ntext"]}).set_index("a")
    assert summarize(frame) == (
        "pandas DataFrame: 2 rows x 1 columns\n"
        f"Columns (dtype): b ({frame.dtypes['b']})\n"
        "| a | b |\n"
        "| --- | --- |\n"
        "| 1 | x\\|y |\n"
        "| 2 | long text |"
    )


def test_a_wide_frame_lists_the_columns_it_leaves_out():
    wide = pd.DataFrame(np.zeros((3, 50)), columns=[f"c{i}" for i in range(50)])
    text = summarize(wide)
    assert "and 30 more" in text.splitlines()[1]
    assert text.endswith("[30 more columns not shown]")


def test_a_series_reads_as_name_dtype_and_values(sales):
    text = summarize(sales["sales"], 500)
    assert text.startswith("pandas Series 'sales': 1,000 values, dtype float64\n")
    assert "| mean | 749.25 |" in text and "| 0 | 0.0 |" in text
    assert len(text) <= 500 and "more rows not shown" in text


def test_arrays_long_text_and_long_lists_are_cut_with_a_note():
    array = summarize(np.arange(200_000, dtype=np.float32).reshape(1000, 200), 300)
    assert array.startswith("numpy array, shape (1000, 200), dtype float32:")
    assert len(array) <= 300
    text = summarize("log line\n" * 2000, 400)
    assert len(text) <= 400
    assert "of 18,000 characters left out" in text
    assert text.startswith("log line") and text.endswith("log line\n")  # start and end kept
    items = summarize(list(range(10_000)), 200)
    assert items.startswith("[0, 1, 2,") and "[list of 10,000 items;" in items
    assert len(items) <= 200
    assert summarize({"a": 1}) == "{'a': 1}"


# -- in a cell -----------------------------------------------------------------


def test_df_in_a_cell_sends_the_summary_and_conversions_the_plain_forms(
    ip, glm_server, capsys, sales
):
    ip.user_ns["sales"] = sales
    cell(ip, capsys, "%%glm\nWhich city sells most?\n{sales}")
    assert prompt_sent(glm_server) == "Which city sells most?\n" + summarize(sales)
    cell(ip, capsys, "%%glm\n{sales!s}")
    assert prompt_sent(glm_server) == str(sales)
    cell(ip, capsys, "%%glm\n{sales!r}")
    assert prompt_sent(glm_server) == repr(sales)
    del ip.user_ns["sales"]


def test_the_budget_is_a_setting(ip, glm_server, capsys, sales):
    ip.user_ns["sales"] = sales
    run(ip, "%config GLMMagics.value_budget = 500")
    try:
        cell(ip, capsys, "%%glm\n{sales}")
        assert len(prompt_sent(glm_server)) <= 500
    finally:
        run(ip, "%config GLMMagics.value_budget = 4000")
        del ip.user_ns["sales"]


def test_cut_text_is_reported_to_the_user(ip, glm_server, capsys):
    ip.user_ns["article"] = "word " * 2000
    out, _ = cell(ip, capsys, "%%glm\nSummarise: {article}")
    assert "{article} is 10,000 characters, cut to 4,000" in out and "{article!s}" in out
    assert len(prompt_sent(glm_server)) <= len("Summarise: ") + 4000
    out, _ = cell(ip, capsys, "%%glm\nSummarise: {article!s}")
    assert prompt_sent(glm_server) == "Summarise: " + "word " * 2000
    assert "cut to" not in out
    del ip.user_ns["article"]


def test_pandas_is_never_imported_by_us():
    code = (
        "import sys, glm_magic.interpolate as i\n"
        "i.interpolate('{x} {y}', {'x': list(range(5000)), 'y': 'z' * 9000})\n"
        "print('pandas' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


# -- history and the last error --------------------------------------------------


def test_in_and_out_of_earlier_cells_can_be_quoted(ip, glm_server, capsys):
    run(ip, "6 * 7")
    n = ip.execution_count - 1
    cell(ip, capsys, f"%%glm\nWhy does {{In[{n}]}} give {{Out[{n}]}}?")
    assert prompt_sent(glm_server) == "Why does 6 * 7 give 42?"


def test_explain_this_error_is_one_cell(ip, glm_server, capsys):
    run(ip, "prices = {'tea': 3}\nprices['coffee'] * 2")
    # A mistyped %%glm cell in between is not the error to explain.
    cell(ip, capsys, "%%glm\n{no_such_name}")
    cell(ip, capsys, "%%glm\nExplain this error and fix it:\n{_glm_last_error}")
    sent = prompt_sent(glm_server)
    assert sent.startswith("Explain this error and fix it:\nTraceback (most recent call last):")
    assert "prices['coffee'] * 2" in sent
    assert sent.endswith("KeyError: 'coffee'")
    assert "interactiveshell" not in sent and "UsageError" not in sent
    del ip.user_ns["prices"]


def test_the_last_error_is_kept_as_text_not_with_what_its_frames_held(ip, glm_server, capsys):
    """A traceback keeps every local of its frames alive (a DataFrame, a model): not here."""
    run(
        ip,
        "import weakref as r_weakref\n"
        "class r_Big: pass\n"
        "r_refs = []\n"
        "def r_fail():\n"
        "    big = r_Big()\n"
        "    r_refs.append(r_weakref.ref(big))\n"
        "    raise ValueError('boom')\n"
        "r_fail()",
    )
    run(ip, "1")
    capsys.readouterr()
    # What IPython itself keeps for %debug, let go as its debugger does.
    ip.InteractiveTB.tb = None
    sys.last_type = sys.last_value = sys.last_traceback = None
    gc.collect()
    assert ip.user_ns["r_refs"][0]() is None, "glm_magic kept the frames of the error alive"
    cell(ip, capsys, "%%glm\n{_glm_last_error}")
    assert "r_fail()" in prompt_sent(glm_server)
    assert prompt_sent(glm_server).endswith("ValueError: boom")


def test_a_notebook_variable_of_that_name_wins(ip, glm_server, capsys):
    ip.user_ns["_glm_last_error"] = "my own text"
    try:
        cell(ip, capsys, "%%glm\n{_glm_last_error}")
        assert prompt_sent(glm_server) == "my own text"
    finally:
        del ip.user_ns["_glm_last_error"]


def test_before_any_error_the_placeholder_stops_the_cell():
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'glm_magic')\n"
        "shell.run_cell('%%glm\\nExplain {_glm_last_error}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "no cell has raised an error yet" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout

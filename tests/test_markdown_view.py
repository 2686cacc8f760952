"""The live answer as Markdown: where it is cut into blocks, and what a redraw may cost.

The front-end side (a table rendered while it streams, the dark theme) is in
test_browser.py, the traffic in a real kernel in test_kernel.py; here are the
rules themselves.
"""

from __future__ import annotations

import pytest
from ipywidgets import Layout

from glm_magic.views.markdown import CREDIT, FREE, AnswerPane, Blocks, markdown_output

ANSWER = (
    "# Plan\n\nFirst a paragraph\nthat runs over two lines.\n\n"
    "| city | sales |\n|---|---|\n| Lyon | 3 |\n\n"
    "```python\nx = 1\n\n\ny = 2\n```\n\n"
    "- one\n- two\n\n  still two\n\nThe end."
)


def cut(text: str, step: int) -> list[str]:
    blocks = Blocks()
    parts = [blocks.add(text[i : i + step]) for i in range(0, len(text), step)]
    return [p for p in [*parts, blocks.finish()] if p]


@pytest.mark.parametrize("step", [1, 4, 13])
def test_finished_blocks_come_out_whole_and_nothing_is_lost(step):
    parts = cut(ANSWER, step)
    assert "".join(parts) == ANSWER
    assert parts[:3] == [
        "# Plan\n\n",
        "First a paragraph\nthat runs over two lines.\n\n",
        "| city | sales |\n|---|---|\n| Lyon | 3 |\n\n",
    ]
    assert "```python\nx = 1\n\n\ny = 2\n```\n\n" in parts, "a blank line in a fence is no cut"
    assert "- one\n- two\n\n  still two\n\n" in parts, "an indented line continues its block"


def test_a_block_is_finished_once_the_next_one_starts():
    blocks = Blocks()
    assert blocks.add("One.\n\n") == ""
    assert blocks.open == "One.\n\n"
    assert blocks.add("T") == "One.\n\n"
    assert blocks.open == "T"


def test_a_long_paragraph_is_cut_at_a_sentence_with_its_markup_closed():
    sentence = "A **bold** claim with `code` in it. "
    text = sentence * (2 * FREE // len(sentence)) + "Last **open"
    parts = cut(text, 50)
    assert "".join(parts) == text
    assert len(parts) >= 2 and max(map(len, parts)) <= FREE + 100
    assert all(p.endswith(". ") for p in parts[:-1])


@pytest.mark.parametrize("opening", ["| a | b |\n|---|---|\n", "```\n"])
def test_a_long_table_or_code_fence_is_never_cut(opening):
    rows = "".join(f"| {i} | {i * i} |\n" if "|" in opening else f"x = {i}\n" for i in range(600))
    text = opening + rows
    assert cut(text, 64) == [text]


def test_a_long_list_is_cut_before_an_item():
    text = "".join(f"- item number {i} of a long list\n" for i in range(200))
    parts = cut(text, 64)
    assert "".join(parts) == text and len(parts) >= 2
    assert all(p.startswith("- item") for p in parts)


def test_redraws_of_one_long_table_cost_at_most_credit_times_its_text(ip):
    pane = AnswerPane(Layout())
    redrawn: list[str] = []
    pane.open.observe(
        lambda change: redrawn.extend(o["data"]["text/markdown"] for o in change["new"]),
        "outputs",
    )
    table = "| n | square |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(3000))
    messages = sum(pane.write(table[i : i + 40]) for i in range(0, len(table), 40))
    messages += pane.write("", flush=True)
    assert redrawn[-1] == table, "the last redraw shows the whole table"
    small = [r for r in redrawn if len(r) <= FREE]
    assert sum(map(len, redrawn)) - sum(map(len, small)) <= CREDIT * len(table) + len(table)
    assert messages == len(redrawn)
    pane.close()


def test_an_open_block_is_redrawn_and_a_finished_one_appended(ip):
    pane = AnswerPane(Layout())
    assert pane.write("Intro.\n\n") == 1
    assert pane.open.outputs == (markdown_output("Intro.\n\n"),)
    assert pane.write("| a |\n") == 2, "Intro is appended, the table starts the open block"
    assert pane.open.outputs == (markdown_output("| a |\n"),)
    pane.close()

"""``%glm usage``: every run of the session adds up per model, against the free quota."""

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


def usage_row(out: str, model: str) -> list[int]:
    row = next(line for line in out.splitlines() if line.startswith(model + " "))
    return [int(n.replace(",", "")) for n in row.split()[1:6]]


def test_usage_adds_up_every_run_per_model(ip, glm_server, capsys):
    out, _ = cell(ip, capsys, "%glm usage")
    before = usage_row(out, "glm-4.5-air") if "glm-4.5-air " in out else [0] * 5
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
    left = 1_000_000 - after[4]
    assert f"{left:,} of 1,000,000" in out
    assert "This session only" in out


def test_a_failed_run_counts_as_a_run_with_no_tokens(ip, glm_server, capsys):
    entry = ledger.LEDGER.get("glm-4.5")
    runs, total = (entry.runs, entry.usage.total_tokens) if entry else (0, 0)
    glm_server.queue(Fault("invalid_parameter"))
    cell(ip, capsys, "%%glm -m glm-4.5\nhi")
    assert ledger.LEDGER["glm-4.5"].runs == runs + 1
    assert ledger.LEDGER["glm-4.5"].usage.total_tokens == total

"""The bundled notebooks run from top to bottom in a real kernel, offline, and save cleanly.

Each notebook is executed once with nbclient in a kernel on this interpreter
(the kernel setup of ``glm-magic demo``), pointed at the fake DashScope with no
reply queued: the fake's default replies (echoes, one tool call, a JSON object)
are what a user without a key sees. The executed notebook is written to disk
and read back, so the checks are on the file a user would commit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from glm_magic.cli import DEFAULT_NOTEBOOK, kernel_manager
from glm_magic.testing import FakeDashScope, RecordedRequest

NOTEBOOKS = {
    "quickstart": DEFAULT_NOTEBOOK,  # ships in the package, for `glm-magic demo`
    "data_analysis": Path(__file__).resolve().parents[1] / "notebooks" / "data_analysis.ipynb",
}
WIDGET = "application/vnd.jupyter.widget-view+json"


@dataclass
class Executed:
    """A notebook after a full run: the saved file's text, read back, and what the server got."""

    nb: Any
    text: str
    requests: list[RecordedRequest]
    api_key: str

    def cell(self, start: str) -> Any:
        """The first code cell whose source starts with ``start``."""
        return next(c for c in self.nb.cells if c.source.startswith(start))

    def rendering(self, cell: Any) -> dict[str, str]:
        """The static rendering a ``%%glm`` cell left: its one display's mime bundle."""
        (shown,) = [o for o in cell.outputs if o.output_type == "display_data"]
        return shown.data

    def printed(self, cell: Any) -> str:
        return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def execute(name: str, server: FakeDashScope, folder: Path) -> Executed:
    server.reset()
    nb = nbformat.read(NOTEBOOKS[name], as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ("DASHSCOPE_API_KEY", "GLM_MAGIC_MODEL")}
    env |= {"GLM_MAGIC_BASE_URL": server.base_url, "GLM_MAGIC_API_KEY": server.api_key}
    NotebookClient(
        nb,
        km=kernel_manager(),
        kernel_name="python3",
        timeout=60,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(folder)}},
    ).execute(env=env)
    path = folder / f"{name}.executed.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    return Executed(saved, path.read_text(), server.requests, server.api_key)


@pytest.fixture(scope="module")
def notebook(glm_server_session, tmp_path_factory):
    """``notebook(name)``: the executed notebook; each one runs once per test module."""
    done: dict[str, Executed] = {}

    def run(name: str) -> Executed:
        if name not in done:
            done[name] = execute(name, glm_server_session, tmp_path_factory.mktemp(name))
        return done[name]

    yield run
    glm_server_session.reset()


def expected_answer(source: str) -> list[str]:
    """Pieces of the fake's default answer to a ``%%glm`` cell, as its rendering shows them."""
    options, *lines = source.splitlines()
    if "--json" in options:
        return ['```json\n{"echo":']
    if "--tools" in options:
        return ["Tool results: "]
    return ["You said: ", next(line for line in reversed(lines) if "{" not in line)]


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_a_bundled_notebook_runs_offline_and_saves_a_clean_file(notebook, name):
    run = notebook(name)
    nbformat.validate(run.nb)
    code = [c for c in run.nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    for cell in code:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.source

    glm_cells = [c for c in code if c.source.startswith("%%glm")]
    assert glm_cells
    for cell in glm_cells:
        data = run.rendering(cell)
        assert WIDGET not in data, "the live view leaves no widget behind"
        assert all(part in data["text/markdown"] for part in expected_answer(cell.source))
        assert "<sub>glm-5 · " in data["text/markdown"]
        assert data["text/plain"].strip()

    assert run.api_key not in run.text


def test_the_data_analysis_session_reads_its_csv_and_asks_about_the_frame(notebook):
    run = notebook("data_analysis")
    overview = run.requests[0].body["messages"][-1]["content"]
    assert "pandas DataFrame: 30 rows x 6 columns" in overview
    assert "revenue (float64)" in overview
    assert "| 29 | 2024-03-30" in overview and "not shown" not in overview, "all 30 rows fit"


def test_the_follow_up_cell_continues_the_conversation(notebook):
    run = notebook("data_analysis")
    first, second = [r.body["messages"] for r in run.requests[1:3]]
    assert [m["role"] for m in first] == ["system", "user"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[:2] == first
    assert second[0]["content"] == "You are a concise data analyst."
    follow_up = run.rendering(run.cell("%%glm -c analysis\n"))["text/markdown"]
    assert "(4 messages received)" in follow_up
    assert "analysis  2" in run.printed(run.cell("%glm chats"))


def test_the_tool_cell_queries_the_dataframe_and_shows_the_call(notebook):
    run = notebook("data_analysis")
    cell = run.cell("%%glm --tools revenue_by")
    data = run.rendering(cell)
    assert (
        "Tool call: <code>revenue_by(column=&#x27;region&#x27;) -&gt; {&quot;South&quot;"
        in (data["text/markdown"])
    )
    assert "Tool call: revenue_by(column='region') -> {\"South\": " in data["text/plain"]
    assert 'Tool results: revenue_by -> {"South": ' in data["text/markdown"]
    printed = run.printed(run.cell("for call in by_region.tool_calls"))
    assert printed.startswith("revenue_by {'column': 'region'} -> {\"South\": ")

    tool_requests = [r.body for r in run.requests if "tools" in r.body]
    assert len(tool_requests) == 2
    assert tool_requests[0]["tools"][0]["function"]["name"] == "revenue_by"
    assert [m["role"] for m in tool_requests[1]["messages"]] == ["user", "assistant", "tool"]


def test_the_json_insights_become_a_dataframe(notebook):
    run = notebook("data_analysis")
    prompt = '{"insights": [{"finding": "..."'
    json_request = next(r.body for r in run.requests if prompt in r.body["messages"][-1]["content"])
    # glm-5 has no JSON mode on DashScope: the prompt asks for JSON, and it may think.
    assert "response_format" not in json_request
    assert json_request["enable_thinking"] is True
    (frame,) = run.cell("data = insights.data").outputs
    assert frame.output_type == "execute_result"
    html = frame.data["text/html"]
    assert 'class="dataframe"' in html
    assert "<th>echo</th>" in html and "<th>messages</th>" in html


def test_the_session_ends_with_its_usage(notebook):
    run = notebook("data_analysis")
    usage = run.printed(run.cell("%glm usage"))
    session = usage.split("\n\n")[0].splitlines()  # "This session", header, rule, rows
    assert session[3].split()[:3] == ["dashscope", "glm-5", "5"]  # five %%glm runs

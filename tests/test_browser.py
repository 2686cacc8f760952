"""In real JupyterLab, in a real browser: what a user sees while GLM streams, and after.

A ``jupyter lab`` server runs a notebook whose kernel talks to the fake
DashScope; Chromium (Debian's, driven by Playwright) runs the cells and looks
at the page the way a user would: the live view (status line, Thinking pane,
Answer pane) while the reply streams, the static rendering once it ends, and
the same rendering after saving and reloading, with no "Error displaying
widget" anywhere. Screenshots go to the test's tmp_path, or to the folder
``GLM_MAGIC_SCREENSHOTS`` names (``docs`` keeps the README's pictures current).

Needs Debian's chromium (``apt-get install chromium``) plus the ``jupyterlab``
and ``playwright`` packages of the ``test`` extra; skipped without them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from glm_magic.testing import Reply

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
if importlib.util.find_spec("jupyterlab") is None:  # found, not imported: that takes seconds
    pytest.skip("needs jupyterlab (pip install -e '.[test]')", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs playwright (pip install -e '.[test]')"
)
expect = sync_api.expect

TOKEN = "glm-magic-browser-test"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SLOW = 60_000  # ms; the CI machine has two cores and JupyterLab is heavy

THINKING = "First, " + " ".join(f"step{i}" for i in range(150))
ANSWER = "The short version: **bold** moves win. " + " ".join(f"point{i}" for i in range(100))
# About 230 chunks of 8 characters, 30 ms apart: the reply streams for about 7 s.
SLOW_REPLY = Reply(thinking=THINKING, answer=ANSWER, chunk_chars=8, delay=0.03)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_lab_settings(settings_dir: Path) -> None:
    """No news or update toast: it would cover the page and ask the network."""
    path = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True)
    path.write_text('{"fetchNews": "false", "checkForUpdates": false}')


def serve(app: str, server, base: Path):
    """Run ``python -m app`` (jupyterlab or notebook) on loopback, kernels talking to
    ``server``; yields (url, root folder)."""
    root, home = base / "root", base / "home"
    root.mkdir()
    quiet_lab_settings(home / "settings")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLM_MAGIC_", "DASHSCOPE_"))}
    env |= {
        "GLM_MAGIC_BASE_URL": server.base_url,
        "GLM_MAGIC_API_KEY": server.api_key,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    port = free_port()
    command = [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = base / f"{app}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(proc, f"{url}/api/status?token={TOKEN}", log_path)
        yield url, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def lab(glm_server_session, tmp_path_factory):
    """A JupyterLab server on loopback whose kernels talk to the fake DashScope."""
    yield from serve("jupyterlab", glm_server_session, tmp_path_factory.mktemp("lab"))


def wait_for_server(proc: subprocess.Popen, status_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited ({proc.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(status_url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer on {status_url}:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    yield page
    context.close()


def write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def open_notebook(page, url: str, name: str) -> None:
    # reset: only this notebook open, not the ones the workspace remembers from earlier tests
    page.goto(f"{url}/lab/tree/{name}?reset&token={TOKEN}")
    expect(page.locator(".jp-Notebook .jp-CodeCell").first).to_be_visible(timeout=SLOW)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=SLOW)


def assert_static_rendering(cell) -> None:
    """Thinking collapsed in <details>, the answer as Markdown, the usage line; no widgets."""
    rendered = cell.locator(".jp-RenderedMarkdown")
    expect(rendered.locator("details > summary")).to_contain_text("Thinking", timeout=SLOW)
    expect(rendered.locator("details:not([open])")).to_have_count(1)
    expect(rendered.locator("strong")).to_have_text("bold")
    expect(rendered).to_contain_text("point99")
    expect(rendered.locator("sub")).to_contain_text("glm-5")
    expect(rendered.locator("sub")).to_contain_text("stop")
    expect(cell.locator(".jupyter-widgets")).to_have_count(0)
    expect(cell.page.get_by_text("Error displaying widget")).to_have_count(0)


def test_a_user_watches_thinking_then_answer_stream_and_keeps_the_result(
    lab, page, glm_server, tmp_path
):
    url, root = lab
    write_notebook(root / "demo.ipynb", "%load_ext glm_magic", "%%glm -o r\nWhich moves win?")
    glm_server.queue(SLOW_REPLY)
    open_notebook(page, url, "demo.ipynb")

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    cells.first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")

    cell = cells.nth(1)
    view = cell.locator(".widget-vbox")
    status = view.locator(".widget-html").first
    title = view.locator(".jupyter-widget-Collapse-header")
    thinking = view.locator(".jupyter-widget-Collapse-contents")
    answer = view.locator(":scope > .widget-output").last

    # The thinking streams first, into its own pane, under a "Thinking" title.
    expect(thinking).to_contain_text("step0", timeout=SLOW)
    assert view.locator(":scope > .widget-output").all_inner_texts() == ["", ""], (
        "the answer panes stay empty while GLM thinks"
    )
    expect(title).to_have_text("Thinking")
    expect(status).to_contain_text("glm-5")
    expect(status).to_contain_text("thinking")

    # The user folds the thinking away, and opens it again.
    title.click()
    expect(thinking).to_be_hidden()
    title.click()
    expect(thinking).to_be_visible()

    # Then the answer streams into the Answer pane, growing as the user watches.
    expect(answer).to_contain_text("The short version", timeout=SLOW)
    first = answer.inner_text()
    time.sleep(1.0)
    page.screenshot(path=tmp_path / "1-streaming.png")
    second = answer.inner_text()
    # Rendered Markdown: "**bol" shows as typed until the bold closes, so compare words.
    assert len(second.split()) > len(first.split()), (first, second)
    assert second.startswith("The short version: bold moves win."), second
    assert "point99" not in second, "still streaming at the second reading"
    expect(status).to_contain_text("answering")
    expect(status).to_contain_text("tokens")
    assert "step" not in second and "step149" in thinking.inner_text()
    assert "point" not in thinking.inner_text()

    # When the stream ends the widgets give way to the static rendering.
    assert_static_rendering(cell)
    expect(cell.locator(".jp-InputPrompt")).to_have_text("[2]:", timeout=SLOW)
    page.screenshot(path=tmp_path / "2-finished.png")
    cell.locator("details > summary").click()
    expect(cell.locator("details")).to_contain_text("step149")

    # Saved, the file holds Markdown rather than widget models.
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=SLOW)
    saved = nbformat.read(root / "demo.ipynb", as_version=4)
    [output] = saved.cells[1].outputs
    assert "<details>" in output.data["text/markdown"] and "step149" in output.data["text/markdown"]
    assert "application/vnd.jupyter.widget-view+json" not in output.data

    # Reloaded, the notebook shows the same result and no widget error.
    page.reload()
    expect(page.locator(".jp-Notebook .jp-CodeCell").first).to_be_visible(timeout=SLOW)
    assert_static_rendering(page.locator(".jp-Notebook .jp-CodeCell").nth(1))
    page.screenshot(path=tmp_path / "3-reopened.png")


# -- Stop ---------------------------------------------------------------------------------

LONG_THINKING = Reply(thinking=THINKING * 4, answer=ANSWER, chunk_chars=8, delay=0.03)


def run_thinking_cells(page, lab, glm_server, name: str, *sources: str):
    """A notebook of ``sources`` whose first ``%%glm`` thinks for a long time, run by
    pressing Shift+Enter on every cell (they queue as for Run All); its cells."""
    url, root = lab
    write_notebook(root / name, *sources)
    glm_server.queue(LONG_THINKING)
    open_notebook(page, url, name)
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    cells.first.locator(".jp-InputArea-editor").click()
    for _ in sources:
        page.keyboard.press("Shift+Enter")
    return cells


def test_the_stop_button_ends_the_cell_within_a_second_and_cancels_the_queue(
    lab, page, glm_server, tmp_path
):
    sources = ("%load_ext glm_magic", "%%glm -o r\nThink hard.", "after = 'ran'")
    cells = run_thinking_cells(page, lab, glm_server, "stop.ipynb", *sources)
    cell = cells.nth(1)
    thinking = cell.locator(".jupyter-widget-Collapse-contents")
    expect(thinking).to_contain_text("step9", timeout=SLOW)
    page.screenshot(path=tmp_path / "1-stop-button.png")

    clicked = time.monotonic()
    cell.locator("button.glm-stop").click()
    assert glm_server.wait_for_disconnect(timeout=5), "the server saw the stream close"
    closed = time.monotonic() - clicked
    expect(cell.locator(".jp-InputPrompt")).to_have_text("[2]:", timeout=SLOW)
    ended = time.monotonic() - clicked
    print(f"stream closed {closed:.2f} s and cell ended {ended:.2f} s after the click")
    assert closed < 1.0 and ended < 2.0, (closed, ended)

    rendered = cell.locator(".jp-RenderedMarkdown")
    expect(rendered.locator("details")).to_contain_text("step0")
    expect(rendered).to_contain_text("interrupted")
    error = cell.locator("[data-mime-type='application/vnd.jupyter.stderr']")
    expect(error).to_have_text(
        "KeyboardInterrupt: Stopped; the partial result is kept in r (and _glm)."
    )
    expect(cell.locator(".jupyter-widgets")).to_have_count(0)
    third = cells.nth(2)
    expect(third.locator(".jp-InputPrompt")).to_have_text("[ ]:")
    page.screenshot(path=tmp_path / "2-stopped.png")


def test_the_toolbar_stop_during_run_all_stops_the_queue(lab, page, glm_server):
    url, root = lab
    write_notebook(
        root / "runall.ipynb",
        "%load_ext glm_magic",
        "%%glm -o r\nThink hard.",
        "%%glm --each list(range(300)) -o big\nCount {item}",
    )
    glm_server.queue(LONG_THINKING)
    open_notebook(page, url, "runall.ipynb")
    page.locator(".lm-MenuBar-itemLabel").get_by_text("Run", exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(1)
    expect(cell.locator(".jupyter-widget-Collapse-contents")).to_contain_text("step9", timeout=SLOW)
    page.locator(".jp-NotebookPanel-toolbar [data-jp-item-name='interrupt']").click()
    expect(cell.locator(".jp-InputPrompt")).to_have_text("[2]:", timeout=SLOW)
    expect(cell.locator(".jp-RenderedMarkdown")).to_contain_text("interrupted")
    batch = page.locator(".jp-Notebook .jp-CodeCell").nth(2)
    expect(batch.locator(".jp-InputPrompt")).to_have_text("[ ]:")
    assert len(glm_server.requests) == 1, "the 300-call batch never started"


# -- Markdown while it streams ------------------------------------------------------------

TABLE_ROWS = [(f"City {i}", f"{i * 37 % 101}") for i in range(12)]
TABLE_ANSWER = (
    "Sales by **city**, as asked:\n\n| city | sales |\n|---|---:|\n"
    + "".join(f"| {city} | {sales} |\n" for city, sales in TABLE_ROWS)
    + "\nCity 11 leads; `City 0` sold nothing.\n\n- fast growth\n- slow decline\n"
)
# About 60 chunks of 5 characters, 60 ms apart: the table grows for about 3 s.
TABLE_REPLY = Reply(
    thinking="Lining up the cities by sales. " * 6,
    answer=TABLE_ANSWER,
    chunk_chars=5,
    delay=0.06,
)
LOOK = ("fontFamily", "fontSize", "lineHeight", "color", "paddingLeft", "borderBottomWidth")


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("GLM_MAGIC_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def styles(locator) -> list[dict[str, str]]:
    """The computed styles that decide how text looks, for each element found."""
    return locator.evaluate_all(
        "(els, names) => els.map(el => { const s = getComputedStyle(el);"
        " return Object.fromEntries(names.map(n => [n, s[n]])); })",
        list(LOOK),
    )


def switch_theme(page, name: str) -> None:
    page.locator(".lm-MenuBar-item", has_text="Settings").click()
    page.locator(".lm-Menu-item", has_text="Theme").first.hover()
    page.get_by_role("menuitem", name=name, exact=True).click()
    light = "true" if "Light" in name else "false"
    expect(page.locator(f"body[data-jp-theme-light='{light}']")).to_have_count(1, timeout=SLOW)


def run_table_cell(page, cell, folder: Path, theme: str) -> None:
    """Run the cell; while the table streams it is a rendered table; then compare."""
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    view = cell.locator(".widget-vbox")
    answer = view.locator(":scope > .widget-output")
    table = answer.locator("table")

    # The table is a table while it grows: rows appear in it as they arrive.
    expect(table.locator("td").first).to_be_visible(timeout=SLOW)
    rows_then = table.locator("tbody tr").count()
    expect(view.locator(".widget-html").first).to_contain_text("answering")
    time.sleep(0.6)
    rows_now = table.locator("tbody tr").count()
    assert 0 < rows_then < rows_now < len(TABLE_ROWS), (rows_then, rows_now)
    assert "|---" not in " ".join(answer.all_inner_texts()), "no raw Markdown pipes"
    cell.screenshot(path=folder / f"live-{theme}.png")
    live_text = styles(answer.locator("p").first)
    live_cells = styles(table.locator("td").first)

    # The final rendering replaces the view and looks the same: nothing jumps.
    expect(cell.locator(".jupyter-widgets")).to_have_count(0, timeout=SLOW)
    final = cell.locator(".jp-RenderedMarkdown")
    expect(final.locator("tbody tr")).to_have_count(len(TABLE_ROWS))
    assert styles(final.locator("p").first) == live_text
    assert styles(final.locator("td").first) == live_cells
    final.locator("details > summary").click()
    expect(final.locator("details blockquote")).to_contain_text("Lining up")
    cell.screenshot(path=folder / f"final-{theme}.png")


def test_a_markdown_table_is_rendered_while_it_streams_in_light_and_dark_themes(
    lab, page, glm_server, tmp_path
):
    url, root = lab
    write_notebook(root / "table.ipynb", "%load_ext glm_magic", "%%glm\nSales by city?")
    open_notebook(page, url, "table.ipynb")
    cells = page.locator(".jp-Notebook:visible .jp-CodeCell")
    cells.first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    expect(cells.first.locator(".jp-InputPrompt")).to_have_text(
        re.compile(r"\[\d+\]:"), timeout=SLOW
    )
    folder = screenshots(tmp_path)

    glm_server.queue(TABLE_REPLY)
    run_table_cell(page, cells.nth(1), folder, "light")

    switch_theme(page, "JupyterLab Dark")
    try:
        glm_server.queue(TABLE_REPLY)
        run_table_cell(page, cells.nth(1), folder, "dark")
        quote = cells.nth(1).locator("details blockquote")
        text, background = quote.evaluate(
            "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
        )
        assert text != background, "the thinking is readable in the dark theme"
    finally:
        switch_theme(page, "JupyterLab Light")


def test_a_second_cell_runs_while_a_background_cell_streams_and_its_stop_ends_it(
    lab, page, glm_server, tmp_path
):
    sources = ("%load_ext glm_magic", "%%glm --bg -o r\nThink hard.", "6 * 7")
    cells = run_thinking_cells(page, lab, glm_server, "bg.ipynb", *sources)
    bg, second = cells.nth(1), cells.nth(2)
    expect(second.locator(".jp-OutputArea-output")).to_have_text("42", timeout=SLOW)
    thinking = bg.locator(".jupyter-widget-Collapse-contents")
    expect(thinking).to_contain_text("step9", timeout=SLOW)
    before = thinking.inner_text()
    time.sleep(0.5)
    assert len(thinking.inner_text()) > len(before), "the background cell keeps streaming"
    page.screenshot(path=tmp_path / "1-background.png")

    clicked = time.monotonic()
    bg.get_by_role("button", name="■ Stop").click()
    assert glm_server.wait_for_disconnect(timeout=5), "the server saw the stream close"
    assert time.monotonic() - clicked < 1.0
    expect(bg.locator(".jp-RenderedMarkdown")).to_contain_text("interrupted", timeout=SLOW)
    expect(bg.locator(".jupyter-widgets")).to_have_count(0)


def test_twenty_cells_leave_no_comm_errors_in_the_log_console(lab, page, glm_server):
    url, root = lab
    cells = ["%load_ext glm_magic", *(f"%%glm\nQuestion {i}." for i in range(20))]
    write_notebook(root / "many.ipynb", *cells)
    glm_server.queue(*(Reply(thinking="Hm. " * 30, answer=f"Answer {i}. " * 20) for i in range(20)))
    open_notebook(page, url, "many.ipynb")
    page.locator(".lm-MenuBar-itemLabel").get_by_text("Run", exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
    last = page.locator(".jp-Notebook .jp-CodeCell").nth(20)
    expect(last.locator(".jp-RenderedMarkdown")).to_contain_text("Answer 19.", timeout=SLOW)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=SLOW)
    time.sleep(2)  # the front end's last widget messages reach the kernel
    page.locator(".lm-MenuBar-itemLabel").get_by_text("View", exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Show Log Console", exact=True).click()
    console = page.locator(".jp-LogConsolePanel")
    expect(console).to_be_visible()
    time.sleep(1)
    assert "No such comm" not in console.inner_text(), console.inner_text()[:2000]


def test_notebook_7_shows_the_live_view_and_its_stop_button(
    glm_server, tmp_path_factory, page, tmp_path
):
    if importlib.util.find_spec("notebook") is None:
        pytest.skip("needs Notebook 7 (pip install notebook)")
    server = serve("notebook", glm_server, tmp_path_factory.mktemp("nb7"))
    url, root = next(server)
    try:
        write_notebook(root / "nb7.ipynb", "%load_ext glm_magic", "%%glm -o r\nThink hard.")
        glm_server.queue(LONG_THINKING)
        page.goto(f"{url}/notebooks/nb7.ipynb?token={TOKEN}")
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        expect(idle).to_have_count(1, timeout=SLOW)  # the kernel is ready for the cells
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        cells.first.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        page.keyboard.press("Shift+Enter")
        cell = cells.nth(1)
        expect(cell.locator(".jupyter-widget-Collapse-contents")).to_contain_text(
            "step9", timeout=SLOW
        )
        expect(cell.locator(".widget-html").first).to_contain_text("thinking")
        page.screenshot(path=tmp_path / "notebook7-live.png")
        cell.locator("button.glm-stop").click()
        assert glm_server.wait_for_disconnect(timeout=5), "Stop works in Notebook 7 too"
        expect(cell.locator(".jp-RenderedMarkdown")).to_contain_text("interrupted", timeout=SLOW)
        expect(cell.locator(".jupyter-widgets")).to_have_count(0)
    finally:
        server.close()

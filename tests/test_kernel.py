"""In a real kernel: what the front end receives while GLM streams, and what gets saved.

These drive an ipykernel over ZeroMQ (jupyter_client) and nbclient, the way
JupyterLab and nbconvert do, and count the iopub bytes and messages.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import nbformat
import pytest
from nbclient import NotebookClient

from glm_magic.testing import Reply
from glm_magic.testing.kernel import KernelSession


def words(n: int, word: str) -> str:
    return " ".join(f"{word}{i % 97}" for i in range(n))


def test_the_live_view_is_one_widget_box_with_thinking_and_answer_panes(kernel, glm_server):
    glm_server.queue(Reply(thinking="Weighing the options.", answer="Pick **B**."))
    run = kernel.execute("%%glm\nA or B?")
    assert run.ok
    models = [m.content["data"]["state"]["_model_name"] for m in run.of("comm_open")]
    assert {"VBoxModel", "HTMLModel", "AccordionModel"} <= set(models)
    assert models.count("OutputModel") == 3, "thinking, finished answer blocks, the open block"
    captured = [m.content["data"]["state"].get("msg_id") for m in run.of("comm_msg")]
    assert any(captured), "a pane captured the cell's output while streaming"
    assert run.text() == "Weighing the options."
    assert run.markdown() == "Pick **B**.", "the answer is Markdown while it streams"


def test_the_view_ends_as_static_markdown_and_leaves_no_widgets_open(kernel, glm_server):
    glm_server.queue(Reply(thinking="Hmm, primes.", answer="2, 3, 5"))
    run = kernel.execute("%%glm\nFirst three primes?")
    final = run.of("update_display_data")[-1].content["data"]
    assert "<details>" in final["text/markdown"] and "Hmm, primes." in final["text/markdown"]
    assert "2, 3, 5" in final["text/markdown"] and "2, 3, 5" in final["text/plain"]
    assert len(run.of("comm_close")) == len(run.of("comm_open"))
    assert kernel.execute("import ipywidgets; assert not ipywidgets.Widget.widgets").ok


def test_a_6000_word_reply_costs_under_3x_its_text_in_front_end_bytes(kernel, glm_server):
    thinking, answer = words(4000, "think"), words(2000, "answer")
    # 16 characters a chunk: the stream outpaces the view even on a busy machine, so the
    # ratio measures what is sent per character, not how slowly a loaded kernel parses.
    glm_server.queue(Reply(thinking=thinking, answer=answer, chunk_chars=16))
    run = kernel.execute("%%glm\nWrite at length.")
    text_bytes = len(thinking.encode()) + len(answer.encode())
    assert run.ok
    assert run.total_bytes < 3 * text_bytes, (run.total_bytes, text_bytes)


def test_a_long_table_is_redrawn_but_never_resent_per_update(kernel, glm_server):
    """Finished Markdown blocks go out once; the open block (a 300-row table that
    cannot be cut) is redrawn at a cost that stays linear in its size."""
    table = "| n | square |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(300))
    answer = "".join(f"Paragraph {i}: {words(40, 'w')}.\n\n" for i in range(10)) + table
    glm_server.queue(Reply(answer=answer, delay=0.0005))
    run = kernel.execute("%%glm --no-thinking\nSquares, please.")
    assert run.ok and run.markdown() == answer
    appended = sum(len(m.content["data"].get("text/markdown", "")) for m in run.of("display_data"))
    redrawn = sum(
        len(o["data"]["text/markdown"])
        for m in run.of("comm_msg")
        for o in m.content["data"].get("state", {}).get("outputs", [])
    )
    assert appended <= len(answer), "each finished block is sent once"
    assert redrawn <= 4 * len(table), (redrawn, len(table))


def test_updates_are_throttled_to_about_20_per_second(kernel, glm_server):
    glm_server.queue(Reply(thinking=words(3000, "t"), answer=words(1500, "a"), delay=0.0005))
    run = kernel.execute("%%glm\nStream for a while.")
    assert run.ok
    assert run.peak_rate(window=1.0) <= 25
    assert run.text() == words(3000, "t")
    assert run.markdown() == words(1500, "a"), "the final flush always happens"


def test_text_mode_in_a_kernel_prints_headings_and_a_usage_line(kernel, glm_server):
    kernel.execute("%config GLMMagics.display = 'text'")
    try:
        glm_server.queue(Reply(thinking="Counting.", answer="Three."))
        run = kernel.execute("%%glm\nHow many?")
    finally:
        kernel.execute("%config GLMMagics.display = 'auto'")
    out = run.text()
    assert not run.of("comm_open")
    assert "Thinking:\nCounting." in out and "Answer:\nThree." in out
    assert "glm-5" in out.strip().splitlines()[-1]


SLOW = Reply(answer=words(400, "slow"), delay=0.02)  # about 14 s of streaming
STOPPED_CELLS = {
    "cell": ("%%glm -o partial --no-thinking\nTake your time.", [SLOW], "partial"),
    "line": ("%glm -o partial --no-thinking Take your time.", [SLOW], "partial"),
    "batch": ("%%glm --each list(range(4)) -j 2 -o partial\n{item}", [SLOW] * 4, "partial[0]"),
    "tool loop": (
        'def nap(seconds: int) -> str:\n    "Sleep."\n'
        "    time.sleep(seconds)\n    return 'rested'\n"
        "%glm -o partial --tools nap --no-thinking Rest a while.",
        [Reply(tool_calls=[{"name": "nap", "arguments": {"seconds": 30}}])],
        "partial",
    ),
    "python api": (
        "import glm_magic\npartial = glm_magic.complete('Take your time.', thinking=False)",
        [SLOW],
        "sys.last_value.result",
    ),
}


@pytest.mark.parametrize("kind", STOPPED_CELLS)
def test_an_interrupt_keeps_the_partial_result_and_stops_run_all(kernel, glm_server, kind):
    source, replies, result = STOPPED_CELLS[kind]
    kernel.execute("import sys, time; ran = []")
    glm_server.queue(*replies)
    queued = [kernel.client.execute(source)]
    queued += [kernel.client.execute(f"ran.append({n})") for n in (2, 3)]
    deadline = time.monotonic() + 10
    while not glm_server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    kernel.interrupt()
    first, *rest = [r["content"] for r in kernel.replies(queued, timeout=30)]
    assert first["status"] == "error" and first["ename"] == "GLMInterrupted", first
    assert "Stopped; the partial result is kept in" in first["evalue"]
    assert [r["status"] for r in rest] == ["aborted", "aborted"], "queued cells did not run"
    if kind != "tool loop":
        assert glm_server.wait_for_disconnect(timeout=5), "the stream was closed"
    check = kernel.execute(f"print({result}.finish_reason, len(ran))")
    assert check.text().split() == ["interrupted", "0"]
    glm_server.reset()
    glm_server.queue(Reply(answer="still alive"))
    assert "still alive" in kernel.execute("%%glm --no-thinking\nping").markdown()


def test_a_headless_run_saves_the_result_without_widgets_or_key(glm_server_session, tmp_path):
    from nbconvert import HTMLExporter

    server = glm_server_session
    server.reset()
    server.queue(Reply(thinking="Thinking it through.", answer="Saved answer."))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext glm_magic"),
        nbformat.v4.new_code_cell("%%glm -o r\nSay something."),
        nbformat.v4.new_code_cell("%%glm --each \"['a', 'b']\" --show 1 -o b\nSay {item}."),
    ]
    env = {"GLM_MAGIC_BASE_URL": server.base_url, "GLM_MAGIC_API_KEY": server.api_key}
    NotebookClient(nb, kernel_name="python3", timeout=120, startup_timeout=120).execute(
        env={**os.environ, **env}
    )
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)
    outputs = saved.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    data = outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" not in data
    assert "Thinking it through." in data["text/markdown"]
    assert "Saved answer." in data["text/markdown"]
    assert server.api_key not in path.read_text()
    batch = [o.data.get("text/markdown", "") for o in saved.cells[2].outputs if "data" in o]
    assert any("You said: Say a." in shown for shown in batch), "the shown item, static"
    assert any("2 items: 2 done" in shown for shown in batch), "the summary, static"
    assert not [o for o in saved.cells[2].outputs if o.output_type == "stream"]
    assert "widgets" not in saved.metadata, "no widget state"
    html, _ = HTMLExporter().from_notebook_node(saved)
    assert "Saved answer." in html
    assert "widget-state" not in html and "@jupyter-widgets" not in html


def test_a_one_shot_line_at_the_end_of_a_cell_is_shown_once(kernel, glm_server):
    glm_server.queue(Reply(answer="Once."), Reply(answer="Kept."))
    shown = kernel.execute("%glm --no-thinking Say once.")
    (status,) = [o.content["data"] for o in shown.of("update_display_data")]
    assert "Once." not in str(status), "the live view shrinks to its usage line"
    assert status["text/plain"].startswith("[glm-5 · ") and "<sub>glm-5 · " in str(status)
    assert "Once." in shown.of("execute_result")[0].content["data"]["text/markdown"]
    stored = kernel.execute("x = %glm --no-thinking Say kept.")
    assert not stored.of("execute_result")
    assert "Kept." in stored.of("update_display_data")[0].content["data"]["text/markdown"]


def test_the_key_typed_at_the_glm_key_prompt_is_used_and_never_shown(glm_server):
    env = {"GLM_MAGIC_BASE_URL": glm_server.base_url, "GLM_MAGIC_API_KEY": ""}
    with KernelSession(env) as session:
        session.execute("%load_ext glm_magic")
        msg_id = session.client.execute("%glm key", allow_stdin=True)
        prompt = session.client.get_stdin_msg(timeout=30)
        assert prompt["content"]["password"] is True
        session.client.input(glm_server.api_key)
        session.reply_to(msg_id, timeout=30)
        glm_server.queue(Reply(answer="Keyed."))
        run = session.execute("%%glm\nhi\n")
        config = session.execute("%glm config")
    assert "Keyed." in run.markdown()
    assert "%glm key" in config.text()
    assert glm_server.api_key not in config.text() + run.text()


def test_the_status_clock_keeps_moving_while_waiting_for_the_first_token(kernel, glm_server):
    glm_server.queue(Reply(answer="late", first_delay=1.6))
    run = kernel.execute("%%glm --no-thinking\nTake a moment.")
    states = [m.content["data"]["state"] for m in run.of("comm_msg")]
    waiting = [s["value"] for s in states if "waiting for the first token" in s.get("value", "")]
    assert len(waiting) >= 3, waiting


def headless_env(server) -> dict[str, str]:
    return {
        **os.environ,
        "GLM_MAGIC_BASE_URL": server.base_url,
        "GLM_MAGIC_API_KEY": server.api_key,
    }


def test_under_nbclient_an_interrupt_stops_the_notebook_at_that_cell(glm_server_session):
    from nbclient.exceptions import CellExecutionError

    server = glm_server_session
    server.reset()
    server.queue(SLOW)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in ("%load_ext glm_magic", "%%glm -o r --no-thinking\nTake your time.", "1 + 1")
    ]
    client = NotebookClient(nb, kernel_name="python3", timeout=120, startup_timeout=120)

    def interrupt_once_streaming() -> None:
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(client.km.provisioner.pid, signal.SIGINT)  # what the ■ button sends

    threading.Thread(target=interrupt_once_streaming, daemon=True).start()
    with pytest.raises(CellExecutionError) as stopped:
        client.execute(env=headless_env(server))
    assert "Stopped; the partial result is kept in r (and _glm)." in str(stopped.value)
    assert server.wait_for_disconnect(timeout=5)
    assert nb.cells[2].execution_count is None and not nb.cells[2].outputs


def test_under_papermill_a_usage_error_carries_its_message(glm_server_session, tmp_path):
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext glm_magic"),
        nbformat.v4.new_code_cell("%%glm -t 5\nToo hot."),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "in.ipynb")
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        papermill.execute_notebook(
            str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), progress_bar=False
        )
    assert failed.value.ename.endswith("UsageError")
    assert "temperature" in failed.value.evalue and "temperature" in str(failed.value)
    assert "Traceback" not in str(failed.value)


def test_a_background_cell_returns_at_once_and_a_later_cell_reads_the_whole_answer(
    kernel, glm_server
):
    answer = words(150, "bg")
    glm_server.queue(Reply(thinking="Working on it.", answer=answer, delay=0.01))
    # Queued together, as Run All sends them: the second cell waits for the answer.
    started = time.monotonic()
    first = kernel.submit("%%glm --bg -o r\nTake your time.")
    reader = kernel.submit("print(len(r.answer.split()), r.finish_reason)")
    replies = kernel.replies([first, reader], timeout=60)
    assert [r["content"]["status"] for r in replies] == ["ok", "ok"]
    check = kernel.execute("print(r.done, type(r).__name__, r.answer == " + repr(answer) + ")")
    assert check.text().split() == ["True", "GLMResult", "True"]
    assert time.monotonic() - started < 30


def test_a_background_view_streams_into_its_own_cell_while_another_runs(kernel, glm_server):
    answer = words(200, "bg")
    glm_server.queue(Reply(thinking="Slow thoughts. " * 10, answer=answer, delay=0.02))
    bg = kernel.execute("%%glm --bg -o r\nTake your time.")
    assert bg.ok and bg.of("comm_open"), "the live view is shown in the background cell"
    deadline = time.monotonic() + 10
    while not glm_server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    glm_server.queue(Reply(answer="meanwhile"))
    other = kernel.execute("%%glm --no-thinking\nQuick one.")
    shown = json.dumps([m.content for m in other.messages])
    assert "meanwhile" in shown and "bg1 " not in shown, "nothing of the background run leaks in"
    jobs = kernel.execute("%glm jobs")
    assert "r" in jobs.text().split(), "still streaming, and listed"
    done = kernel.execute(f"print(r.complete, r.answer == {answer!r})")
    waiting, result = done.text().strip().splitlines()
    assert waiting == "[waiting for the background run r to finish]"
    assert result.split() == ["True", "True"]


def test_late_front_end_updates_to_a_closed_view_log_no_comm_errors(kernel, glm_server):
    glm_server.queue(Reply(thinking="Hm.", answer="Done."))
    run = kernel.execute("%%glm\nQuick.")
    closed = [m.content["comm_id"] for m in run.of("comm_close")]
    assert closed

    def stderr_after_update(comm_id: str) -> str:
        """What the kernel says when the front end updates ``comm_id`` (as JupyterLab's
        Output widget does after each captured message)."""
        data = {"method": "update", "state": {"outputs": []}, "buffer_paths": []}
        msg = kernel.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        kernel.client.shell_channel.send(msg)
        said = ""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                out = kernel.client.get_iopub_msg(timeout=0.5)
            except Exception:
                continue
            if out["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
                continue
            if out["msg_type"] == "stream":
                said += out["content"]["text"]
            if out["msg_type"] == "status" and out["content"]["execution_state"] == "idle":
                break
        return said

    assert "No such comm" not in stderr_after_update(closed[0])
    assert "No such comm: not-a-view" in stderr_after_update("not-a-view"), "others still logged"

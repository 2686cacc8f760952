"""Batches survive the kernel: each finished item is journaled, and ``--resume NAME`` in a
new kernel sends only what did not finish."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from conftest import run

from glm_magic import store
from glm_magic.testing.kernel import KernelSession

ITEMS = 24


def finished(home) -> int:
    """Items the store holds as done, read as another process would."""
    path = home / store.FILE_NAME
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute(
            "SELECT COUNT(*) FROM runs WHERE batch IS NOT NULL AND complete = 1"
        ).fetchone()[0]
    except sqlite3.OperationalError:  # the tables are not there yet
        return 0
    finally:
        conn.close()


def test_kill_9_mid_batch_then_resume_in_a_new_kernel_sends_only_the_unfinished_items(
    glm_server, tmp_path
):
    glm_server.default_latency = 0.25
    env = {
        "GLM_MAGIC_BASE_URL": glm_server.base_url,
        "GLM_MAGIC_API_KEY": glm_server.api_key,
        "GLM_MAGIC_HOME": str(tmp_path),
    }
    cell = f"%%glm --quiet -m glm-4.5 -j 2 -o r --each list(range({ITEMS}))\nNumber {{item}}"
    kernel = KernelSession(env)
    try:
        assert kernel.execute("%load_ext glm_magic").ok
        kernel.client.execute(cell)
        deadline = time.monotonic() + 60
        while finished(tmp_path) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(kernel.manager.provisioner.process.pid, signal.SIGKILL)
    finally:
        kernel.close()
    done = finished(tmp_path)
    sent = len(glm_server.requests)
    assert 6 <= done < ITEMS
    assert sent - done <= 2  # at most the two items in flight are sent again

    with KernelSession(env) as fresh:
        assert fresh.execute("%load_ext glm_magic").ok
        assert fresh.execute("%glm --resume r --quiet").ok
        check = fresh.execute(
            "print(len(r), r.counts()['done'], _glm is r, "
            "all(f'Number {i} ' in a for i, a in enumerate(r.answers)))"
        )
    assert check.text().split() == [str(ITEMS), str(ITEMS), "True", "True"]
    assert len(glm_server.requests) - sent == ITEMS - done


def test_resume_by_name_in_the_same_kernel_still_uses_the_batch_in_memory(ip, glm_server):
    glm_server.default_latency = 0.0
    run(ip, "%%glm --quiet -m glm-4.5 -o r_mem --each [1,2,3]\nNumber {item}")
    batch = ip.user_ns["r_mem"]
    sent = len(glm_server.requests)
    run(ip, "%glm --resume r_mem --quiet")
    assert ip.user_ns["r_mem"] is batch
    assert len(glm_server.requests) == sent


def test_resume_of_a_name_the_store_never_saw_says_so(ip, glm_server, store_home, capsys):
    run(ip, "%glm --resume nothing_here")
    assert "the store has no batch of that name" in capsys.readouterr().err


def test_a_restored_batch_keeps_the_input_shape(ip, glm_server, store_home):
    import pandas as pd

    ip.user_ns["frame"] = pd.DataFrame({"x": ["a", "b"]}, index=["p", "q"])
    run(ip, "%%glm --quiet -m glm-4.5 -o r_frame --each frame\nSay {row.x}")
    del ip.user_ns["r_frame"]  # what a new kernel has
    sent = len(glm_server.requests)
    run(ip, "%glm --resume r_frame --quiet")
    restored = ip.user_ns["r_frame"]
    assert len(glm_server.requests) == sent
    assert list(restored.output().index) == ["p", "q"]
    assert restored.answers[1].startswith("You said: Say b")


def test_a_batch_without_a_name_resumes_as_glm(ip, glm_server, store_home):
    run(ip, "%%glm --quiet -m glm-4.5 --each [1,2]\nNumber {item}")
    del ip.user_ns["_glm"]  # what a new kernel has
    sent = len(glm_server.requests)
    run(ip, "%glm --resume _glm --quiet")
    assert ip.user_ns["_glm"].counts()["done"] == 2
    assert len(glm_server.requests) == sent

"""The store: every run is kept in one SQLite file, safely, privately, and out of the way."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading

import pytest
from conftest import run

import glm_magic
from glm_magic import store
from glm_magic.testing import Fault, Reply
from glm_magic.testing.kernel import KernelSession


def stored_rows(home) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / store.FILE_NAME)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM runs ORDER BY id").fetchall()
    finally:
        conn.close()


def test_every_run_is_written_with_what_was_sent_and_what_came_back(ip, glm_server, store_home):
    glm_server.queue(Reply(thinking="Let me see.", answer="Four."))
    run(ip, "%%glm -m glm-4.5 -t 0.5 -s 'Be brief.'\nTwo plus two?")
    (row,) = stored_rows(store_home)
    assert (row["model"], row["provider"], row["answer"], row["thinking"]) == (
        "glm-4.5",
        "dashscope",
        "Four.",
        "Let me see.",
    )
    assert json.loads(row["messages"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Two plus two?"},
    ]
    assert json.loads(row["options"]) == {
        "model": "glm-4.5",
        "temperature": 0.5,
        "system": "Be brief.",
    }
    assert row["finish_reason"] == "stop" and row["complete"] == 1
    assert row["prompt_tokens"] > 0 and row["total_time"] > 0
    assert row["requested"] == "glm-4.5"
    assert row["cost"] > 0 and row["currency"] == "CNY"  # the fake speaks for DashScope


def test_a_failed_run_is_written_with_its_error_code(ip, glm_server, store_home):
    glm_server.queue(Fault("invalid_parameter"))
    run(ip, "%glm -m glm-4.5 hi")
    (row,) = stored_rows(store_home)
    assert (row["finish_reason"], row["complete"]) == ("error", 0)
    assert row["error_code"] and row["error"]


def test_the_key_is_never_in_the_file(ip, glm_server, store_home):
    glm_server.queue(Reply(answer="ok"), Fault("invalid_api_key"))
    run(ip, "%glm -m glm-4.5 hello")
    run(ip, "%glm -m glm-4.5 again")
    glm_magic.complete("and from Python", model="glm-4.5")
    files = [p for p in store_home.iterdir() if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files)  # the write-ahead log is checked too
    key = glm_server.api_key.encode()
    for path in files:
        assert key not in path.read_bytes(), path


def test_the_store_is_readable_by_its_owner_only(ip, glm_server, store_home):
    run(ip, "%glm -m glm-4.5 hi")
    assert stat.S_IMODE(store_home.stat().st_mode) == 0o700
    for path in store_home.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_store_that_cannot_be_opened_warns_once_and_the_run_goes_on(
    ip, glm_server, tmp_path, monkeypatch, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GLM_MAGIC_HOME", str(blocker / "home"))
    result = run(ip, "%glm -m glm-4.5 hi").result
    assert result.complete and result.answer
    run(ip, "%glm -m glm-4.5 again")
    err = capsys.readouterr().err
    assert err.count("cannot be used") == 1
    assert "this run is not logged" in err


def test_a_read_only_store_folder_warns_and_runs(glm_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o500)
    script = (
        "import glm_magic\n"
        f"result = glm_magic.complete('hi', base_url={glm_server.base_url!r})\n"
        "print(result.complete)"
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        # root writes anywhere: drop the capabilities that let it, so the folder binds it too
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop the override")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {**os.environ, "GLM_MAGIC_HOME": str(home), "GLM_MAGIC_API_KEY": glm_server.api_key}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr
    assert done.stderr.count("cannot be used") == 1
    assert "this run is not logged" in done.stderr
    assert list(home.iterdir()) == []


def test_a_full_disk_warns_and_the_run_goes_on(ip, glm_server, store_home, capsys):
    run(ip, "%glm -m glm-4.5 first")
    with store.current().connection() as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now answers "disk is full"
    glm_server.queue(Reply(answer="still here " * 2000))
    result = run(ip, "%glm -m glm-4.5 second").result
    store.current().close()
    assert result.answer.startswith("still here")
    assert "full" in capsys.readouterr().err
    assert len(stored_rows(store_home)) == 1


def test_the_store_can_be_turned_off(ip, glm_server, store_home, monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_LOG", "0")
    run(ip, "%glm -m glm-4.5 hi")
    monkeypatch.delenv("GLM_MAGIC_LOG")
    ip.magics_manager.registry["GLMMagics"].log = False
    run(ip, "%glm -m glm-4.5 hi")
    assert not store_home.exists()


def test_the_schema_has_a_version_and_a_newer_file_is_left_alone(
    ip, glm_server, store_home, capsys
):
    run(ip, "%glm -m glm-4.5 hi")
    store.current().close()
    conn = sqlite3.connect(store_home / store.FILE_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    conn.close()
    assert run(ip, "%glm -m glm-4.5 again").result.complete
    assert "newer glm-magic" in capsys.readouterr().err
    assert len(stored_rows(store_home)) == 1


def test_a_file_of_the_first_schema_is_upgraded_and_keeps_its_runs(
    ip, glm_server, store_home, capsys
):
    run(ip, "%glm -m glm-4.5 hi")
    store.current().close()
    conn = sqlite3.connect(store_home / store.FILE_NAME)
    conn.executescript(
        "DROP TRIGGER IF EXISTS runs_fts_add; DROP TRIGGER IF EXISTS runs_fts_drop;"
        "ALTER TABLE runs DROP COLUMN requested; PRAGMA user_version = 1;"
    )
    conn.close()
    assert run(ip, "%glm -m glm-4.5 again").result.complete
    assert "not logged" not in capsys.readouterr().err
    rows = stored_rows(store_home)
    assert [(r["prompt"], r["requested"]) for r in rows] == [("hi", None), ("again", "glm-4.5")]


def test_two_kernels_writing_at_once_lose_no_rows(glm_server, tmp_path):
    env = {
        "GLM_MAGIC_BASE_URL": glm_server.base_url,
        "GLM_MAGIC_API_KEY": glm_server.api_key,
        "GLM_MAGIC_HOME": str(tmp_path),
    }
    cell = "%%glm --quiet -m glm-4.5 -j 4 --each list(range(25))\nNumber {item}"
    with KernelSession(env) as one, KernelSession(env) as two:
        for kernel in (one, two):
            assert kernel.execute("%load_ext glm_magic").ok
        runs = [threading.Thread(target=k.execute, args=(cell,)) for k in (one, two)]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join(120)
    conn = sqlite3.connect(tmp_path / store.FILE_NAME)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*), SUM(complete) FROM runs").fetchone() == (50, 50)
    assert conn.execute("SELECT COUNT(DISTINCT session) FROM runs").fetchone()[0] == 2


def test_a_kernel_run_is_stored_with_its_notebook_and_cell(glm_server, tmp_path):
    env = {
        "GLM_MAGIC_BASE_URL": glm_server.base_url,
        "GLM_MAGIC_API_KEY": glm_server.api_key,
        "GLM_MAGIC_HOME": str(tmp_path),
        "JPY_SESSION_NAME": "/work/analysis.ipynb",  # what jupyter_server gives its kernels
    }
    with KernelSession(env) as kernel:
        assert kernel.execute("%load_ext glm_magic").ok
        cell = "%%glm -m glm-4.5\nhello"
        assert kernel.execute(cell, metadata={"cellId": "cell-42"}).ok
    (row,) = stored_rows(tmp_path)
    assert (row["notebook"], row["cell"]) == ("/work/analysis.ipynb", "cell-42")

"""The ``glm-magic`` command as a user runs it: a real process, in a folder of their own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat

import glm_magic

ROOT = Path(__file__).resolve().parents[1]
NO_KEY = ("GLM_MAGIC_API_KEY", "DASHSCOPE_API_KEY", "GLM_MAGIC_BASE_URL", "GLM_MAGIC_MODEL")


def glm_magic_command(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``glm-magic ARGS`` run from ``cwd`` with this checkout's package and no key set."""
    environ = {k: v for k, v in os.environ.items() if k not in NO_KEY}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "glm_magic.cli", *args],
        cwd=cwd,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_version_prints_the_package_version(tmp_path):
    done = glm_magic_command("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"glm-magic {glm_magic.__version__}"


def test_the_demo_runs_the_shipped_quickstart_from_any_folder(tmp_path):
    done = glm_magic_command("demo", "--timeout", "120", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "No API key set: running against the bundled local DashScope stand-in" in done.stdout
    assert "Executed notebook written to quickstart.executed.ipynb" in done.stdout
    executed = nbformat.read(tmp_path / "quickstart.executed.ipynb", as_version=4)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quickstart.executed.ipynb"]


def closed_port_url() -> str:
    """A base URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/compatible-mode/v1"


def doctor(tmp_path, server, **env: str) -> subprocess.CompletedProcess:
    settings = {"GLM_MAGIC_BASE_URL": server.base_url, "GLM_MAGIC_MODEL": "glm-4.6"}
    return glm_magic_command("doctor", cwd=tmp_path, **{**settings, **env})


def test_doctor_with_everything_right_says_all_good(tmp_path, glm_server):
    done = doctor(tmp_path, glm_server, GLM_MAGIC_API_KEY=glm_server.api_key)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"glm-magic {glm_magic.__version__} doctor (Python ")
    assert any(ln.startswith("ok    API key ") and "from GLM_MAGIC_API_KEY" in ln for ln in lines)
    assert f"ok    endpoint  {glm_server.base_url}/models answers and takes the key" in done.stdout
    assert "ok    model     glm-4.6 is listed" in done.stdout
    assert lines[-1] == "All good."
    assert [r.method for r in glm_server.requests] == ["GET"], "one request, nothing billed"
    assert glm_server.api_key not in done.stdout


def test_doctor_without_a_key_says_where_to_set_one(tmp_path, glm_server):
    done = doctor(tmp_path, glm_server)
    assert done.returncode == 1
    assert "FAIL  API key   not set" in done.stdout
    assert "-> export DASHSCOPE_API_KEY=... (or GLM_MAGIC_API_KEY)" in done.stdout
    assert "%glm key" in done.stdout
    assert done.stdout.splitlines()[-1] == "1 thing to fix (see -> above)."
    assert glm_server.requests == []


def test_doctor_with_a_wrong_key_shows_the_refusal_and_the_fix(tmp_path, glm_server):
    done = doctor(tmp_path, glm_server, GLM_MAGIC_API_KEY="sk-not-the-right-key")
    assert done.returncode == 1
    assert "refused the key: HTTP 401 [invalid_api_key]" in done.stdout
    assert "-> Copy the key again from the provider's console" in done.stdout
    assert "sk-not-the-right-key" not in done.stdout


def test_doctor_with_the_endpoint_down_names_it_and_what_to_check(tmp_path, glm_server):
    url = closed_port_url()
    done = doctor(tmp_path, glm_server, GLM_MAGIC_API_KEY="sk-any", GLM_MAGIC_BASE_URL=url)
    assert done.returncode == 1
    assert f"FAIL  endpoint  {url}/models did not answer: Connection error" in done.stdout
    assert "-> Check the base URL (GLM_MAGIC_BASE_URL" in done.stdout

"""The ``glm-magic`` command as a user runs it: a real process, in a folder of their own."""

from __future__ import annotations

import os
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

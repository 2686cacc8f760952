"""What a pip user gets: a light install whose wheel carries the demo and the licence.

The wheel is built offline with the build backend itself (hatchling, as
``pip install`` would). The extras are checked from the other side too: in a
fresh interpreter where pandas, jsonschema, nbclient and ipykernel cannot be
imported, the extension loads and a cell runs; what needs an extra says which.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import python_without

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = ("pandas", "jsonschema", "nbclient", "ipykernel")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("hatchling", reason="the test extra's hatchling builds the wheel")
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from hatchling.build import build_wheel as b; print(b(sys.argv[1]))",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    with zipfile.ZipFile(out / built.stdout.strip().splitlines()[-1]) as whl:
        yield whl


def test_the_wheel_ships_the_demo_notebook_and_the_licence(wheel):
    names = wheel.namelist()
    assert "glm_magic/notebooks/quickstart.ipynb" in names
    licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert wheel.read(licence).decode().startswith("MIT License")
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]


def test_installing_the_wheel_pulls_only_what_the_extension_needs(wheel):
    metadata_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    assert metadata["License-Expression"] == "MIT"
    required = {
        r.split(">")[0].split("=")[0].strip().lower()
        for r in metadata.get_all("Requires-Dist")
        if "extra ==" not in r
    }
    assert required == {"ipython", "traitlets", "openai", "ipywidgets", "nbformat"}
    assert {"demo", "schema", "test"} <= set(metadata.get_all("Provides-Extra"))


def test_without_the_extras_the_extension_loads_and_a_cell_runs(glm_server):
    done = python_without(
        EXTRAS_ONLY,
        """
from IPython.core.interactiveshell import InteractiveShell
import glm_magic
shell = InteractiveShell.instance()
shell.run_cell("%load_ext glm_magic")
shell.run_cell("%%glm -o r\\nHello")
print("RESULT", shell.user_ns["r"].complete)
shell.run_cell("schema = {'type': 'object'}")
shell.run_cell("%%glm --schema schema\\nA person, please.")
""",
        GLM_MAGIC_BASE_URL=glm_server.base_url,
        GLM_MAGIC_API_KEY=glm_server.api_key,
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT True" in done.stdout
    assert "needs the jsonschema package" in done.stderr
    assert "pip install 'glm-magic[schema]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(glm_server.requests) == 1, "the --schema cell sent nothing"


def test_the_demo_without_the_demo_extra_says_how_to_install_it(tmp_path):
    done = python_without(
        ("nbclient", "pandas"),
        "import sys; from glm_magic.cli import main; sys.exit(main(['demo']))",
    )
    assert done.returncode == 1
    assert "the demo needs nbclient, pandas" in done.stderr
    assert "pip install 'glm-magic[demo]'" in done.stderr
    assert "Traceback" not in done.stderr

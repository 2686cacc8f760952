"""The first ``%%glm`` cell is as quick as the second: ``%load_ext`` warms up in the background.

Each test starts a fresh interpreter (this one imported everything long ago)
with a real IPython shell pointed at the fake DashScope. The figure itself
(first cell <= 50 ms from start to request sent) is ``python -m benchmarks
--only first``; here, what must hold anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import python_without

SHELL = """
import json, sys, threading, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()

def warming():
    return any(t.name == "glm-magic-warmup" for t in threading.enumerate())
"""
UNSET = ("DASHSCOPE_API_KEY", "GLM_MAGIC_MODEL")


def in_fresh_shell(code: str, server) -> dict:
    """Run ``code`` after SHELL in a new interpreter; it prints one JSON line last."""
    env = {"GLM_MAGIC_BASE_URL": server.base_url, "GLM_MAGIC_API_KEY": server.api_key}
    done = subprocess.run(
        [sys.executable, "-c", SHELL + code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if k not in UNSET}, **env},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_openai_and_the_http_client_are_ready_shortly_after_load_ext(glm_server):
    seen = in_fresh_shell(
        """
shell.run_cell("%load_ext glm_magic")
at_load = "openai" in sys.modules
deadline = time.monotonic() + 20
while time.monotonic() < deadline and (warming() or "openai" not in sys.modules):
    time.sleep(0.02)
ready = dict(sys.modules["glm_magic.client"]._clients)
resources = "openai.resources.chat" in sys.modules
shell.run_cell("%%glm -o r\\nHello")
r = shell.user_ns["r"]
after = sys.modules["glm_magic.client"]._clients
print(json.dumps({"at_load": at_load, "ready": "openai" in sys.modules, "clients": len(ready),
                  "resources": resources,
                  "reused": list(after.values()) == list(ready.values()), "complete": r.complete}))
""",
        glm_server,
    )
    assert seen == {
        "at_load": False,
        "ready": True,
        "clients": 1,
        "resources": True,
        "reused": True,
        "complete": True,
    }


def test_a_cell_run_while_the_warm_up_imports_still_works(glm_server):
    """Run All: the next cell starts before, during or after the warm-up's imports."""
    for pause in (0.0, 0.06, 0.15, 0.3):
        seen = in_fresh_shell(
            f"""
shell.run_cell("%load_ext glm_magic")
time.sleep({pause})
shell.run_cell("%%glm -o r\\nHello")
r = shell.user_ns["r"]
print(json.dumps({{"complete": r.complete, "error": r.error}}))
""",
            glm_server,
        )
        assert seen == {"complete": True, "error": None}, pause


def test_load_ext_in_a_python_without_openai_loads_quietly():
    done = python_without(
        ("openai",),
        SHELL
        + """
shell.run_cell("%load_ext glm_magic")
time.sleep(1)
print("magic" if "glm" in shell.magics_manager.magics["cell"] else "none", warming())
""",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["magic", "False"]
    assert done.stderr == ""

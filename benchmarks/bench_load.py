"""Measurement 5: what ``%load_ext glm_magic`` costs a fresh IPython, in time and modules.

Fresh interpreters, alternated: one starts IPython's shell and stops, the other
also loads the extension. The extra time is the difference of the medians; the
in-process time of ``%load_ext`` alone and the modules it imported come from
the same runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .common import median, row

RUNS = {False: 20, True: 3}
#: Slow or heavy to import, and not needed until the first request (or never).
DEFERRED = ("openai", "httpx", "pydantic", "ipywidgets", "pandas", "numpy")

SCRIPT = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
start = time.perf_counter()
if sys.argv[1] == "load":
    shell.run_line_magic("load_ext", "glm_magic")
spent = time.perf_counter() - start
print(json.dumps({"seconds": spent, "modules": sorted(set(sys.modules) - before)}))
"""


def start(load: bool) -> tuple[float, dict]:
    """Wall time of a whole fresh interpreter, and what it reported from inside."""
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, "load" if load else "bare"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return time.perf_counter() - began, json.loads(out)


def run(quick: bool = False) -> list[dict]:
    start(load=True)  # the first run pays for cold caches (.pyc, disk): not counted
    bare, loaded, inside = [], [], []
    modules: list[str] = []
    for _ in range(RUNS[quick]):
        bare.append(start(load=False)[0])
        wall, report = start(load=True)
        loaded.append(wall)
        inside.append(report["seconds"])
        modules = report["modules"]
    extra = (median(loaded) - median(bare)) * 1000
    own = median(inside) * 1000
    ours = [m for m in modules if m.split(".")[0] == "glm_magic"]
    deferred = sorted({m.split(".")[0] for m in modules} & set(DEFERRED))
    others = [m for m in modules if m not in ours]
    return [
        row(
            "load: %load_ext glm_magic, extra ms over bare IPython",
            f"{extra:.0f} ms",
            "<= 30 ms",
            extra <= 30 and own <= 30,
            f"%load_ext alone {own:.0f} ms; bare start {median(bare) * 1000:.0f} ms; "
            f"medians of {len(bare)} fresh interpreters each",
        ),
        row(
            "load: modules imported by %load_ext",
            f"{len(modules)}",
            "no " + "/".join(DEFERRED[:2]) + "/...",
            not deferred,
            f"{len(ours)} glm_magic + {len(others)} others"
            + (f"; IMPORTED: {', '.join(deferred)}" if deferred else f"; none of {DEFERRED}"),
        ),
    ]

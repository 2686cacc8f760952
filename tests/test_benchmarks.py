"""The benchmarks keep working: the cheapest parts of ``python -m benchmarks --quick``.

Only what holds on any machine is asserted here (which modules ``%load_ext``
pulls in, that per-token baselines cost tens of times the traffic of ``%%glm``
on the same stream, that the final flush happened); the timings themselves are
in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import bench_stream

ROOT = Path(__file__).resolve().parents[1]


def number(value: str) -> float:
    return float(value.split()[0].rstrip("x/s").replace(",", ""))


def test_the_benchmark_command_prints_a_table_and_load_ext_imports_nothing_heavy():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "load"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "nproc:" in done.stdout and "measurement" in done.stdout
    modules = next(ln for ln in done.stdout.splitlines() if ln.startswith("load: modules"))
    assert "yes" in modules and "IMPORTED" not in modules, modules


def test_glm_and_both_per_token_baselines_run_on_the_same_stream_in_one_kernel():
    rows = {r["name"]: r for r in bench_stream.run(quick=True)}
    ours = number(rows["traffic: %%glm, iopub bytes / text bytes"]["value"])
    for baseline in ("widget value set per token", "update_display per token"):
        assert number(rows[f"traffic: {baseline}"]["value"]) > 20 * ours
        assert number(rows[f"update rate: {baseline}"]["value"]) > 100
    rate = rows["update rate: %%glm, messages/s (peak 1 s)"]
    assert number(rate["value"]) <= 25 and "final flush" in rate["note"]
    freshness = [r for name, r in rows.items() if name.startswith("freshness") and r["target"]]
    assert freshness and all(number(r["value"]) > 0 for r in freshness)

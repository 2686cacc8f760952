"""``python -m benchmarks``: run the benchmarks and print one table.

    python -m benchmarks                    # everything, writes benchmarks/update_timing.png
    python -m benchmarks --quick            # CI smoke: small streams, a few seconds each
    python -m benchmarks --only load,stream # some sections
    python -m benchmarks --markdown         # the table as Markdown, for RESULTS.md

Exit status 1 when a section fails to run (or, with ``--strict``, misses a target).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .common import machine, row

SECTIONS = ("stream", "load", "first", "memory", "batch", "store")
PLOT = Path(__file__).resolve().parent / "update_timing.png"


def section(name: str, quick: bool, plot: Path | None) -> list[dict]:
    if name == "stream":
        from . import bench_stream

        measured = bench_stream.measure(quick)
        if plot is not None:
            from .plot import update_timing

            shown = measured.plotted
            update_timing(shown.timelines[0], plot, f"%%glm, {shown.stream.describe()}")
        return measured.rows
    if name == "load":
        from . import bench_load

        return bench_load.run(quick)
    if name == "first":
        from . import bench_first

        return bench_first.run(quick)
    if name == "memory":
        from . import bench_memory

        return bench_memory.run(quick)
    if name == "store":
        from . import bench_store

        return bench_store.run(quick)
    try:
        from . import bench_batch
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.bench_batch":
            raise
        return [row("batch", "skipped", note="benchmarks/bench_batch.py is not there yet")]
    return bench_batch.run(quick=quick)


def mark(ok: bool | None) -> str:
    return "" if ok is None else "yes" if ok else "MISSED"


def table(rows: list[dict[str, Any]], markdown: bool) -> str:
    head = ("measurement", "value", "target", "met", "note")
    cells = [(r["name"], str(r["value"]), r["target"], mark(r["ok"]), r["note"]) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cs) + " |" for cs in cells]
        return "\n".join(lines)
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(cs[:4], widths, strict=True)) + "  " + cs[4]
        for cs in [head, *cells]
    )


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=summary)
    parser.add_argument("--quick", action="store_true", help="small streams, few repeats (CI)")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--plot", type=Path, help=f"update-timing PNG (full run: {PLOT.name})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    plot = args.plot or (None if args.quick else PLOT)

    for key, value in machine().items():
        print(f"{key}: {value}")
    print(f"mode: {'quick' if args.quick else 'full'}\n")
    rows: list[dict] = []
    broken = False
    for name in chosen:
        started = time.perf_counter()
        try:
            rows += section(name, args.quick, plot)
        except Exception as exc:
            traceback.print_exc()
            rows.append(row(f"{name}: did not run", "error", ok=False, note=repr(exc)))
            broken = True
        print(f"[{name}: {time.perf_counter() - started:.1f} s]", file=sys.stderr, flush=True)
    print(table(rows, args.markdown))
    if plot is not None and "stream" in chosen and not broken:
        print(f"\nupdate timing plot: {plot}")
    missed = any(r["ok"] is False for r in rows)
    return 1 if broken or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``glm-magic`` command: run the quickstart demo, serve the local stand-in, list models.

``glm-magic demo`` executes the quickstart notebook that ships inside the
package (``glm_magic/notebooks/quickstart.ipynb``, so it works from a wheel and
from any folder) headless with nbclient, in a kernel running this very
interpreter (so it sees this install of ``glm_magic``, whatever ``python3``
kernelspec Jupyter would otherwise pick), and writes the executed copy to the
current folder. With an API key in the environment it talks to the real
provider; without one it starts ``glm_magic.testing.FakeDashScope`` in this
process and points the kernel at it. It needs the ``demo`` extra (nbclient,
ipykernel, pandas), which it checks before starting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import math
import os
import re
import signal
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
DEFAULT_NOTEBOOK = Path(__file__).resolve().parent / "notebooks" / "quickstart.ipynb"
#: What running a notebook takes (``pip install 'glm-magic[demo]'``); pandas is the quickstart's.
DEMO_MODULES = ("nbclient", "ipykernel")
QUICKSTART_MODULES = (*DEMO_MODULES, "pandas")

# Run after a cell that mentions %glm, without touching the kernel's history or
# namespace: reports the last result so the demo can summarise each GLM run.
PROBE = (
    "print(__import__('json').dumps(None if globals().get('_glm') is None else {"
    "'id': id(_glm), 'model': _glm.model, 'answer': _glm.answer, "
    "'thinking': len(_glm.thinking), 'tokens': _glm.usage.total_tokens, "
    "'seconds': _glm.total_time, 'complete': _glm.complete, "
    "'finish_reason': _glm.finish_reason, 'error': _glm.error}))"
)


class DemoError(Exception):
    """A command (the demo, mostly) could not run or a cell failed; the message is for the user."""

    exit_code = 1


class Interrupted(DemoError):
    exit_code = 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except DemoError as exc:
        message = str(exc) if sys.stderr.isatty() else ANSI_ESCAPE.sub("", str(exc))
        print(f"glm-magic: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("glm-magic: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The output was piped into something that stopped reading (| head).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glm-magic",
        description="GLM reasoning models in Jupyter: %%glm cells (load with %load_ext glm_magic).",
    )
    parser.add_argument("--version", action="version", version=f"glm-magic {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the quickstart notebook headless and save the executed copy",
        description=(
            "Execute a notebook (default: the quickstart shipped with the package) with "
            "nbclient and write NAME.executed.ipynb next to it (the quickstart's to the current "
            "folder, where its kernel also runs). With GLM_MAGIC_API_KEY or DASHSCOPE_API_KEY "
            "set it uses the real API; otherwise the local stand-in from glm_magic.testing. "
            "Needs the demo extra: pip install 'glm-magic[demo]'."
        ),
    )
    demo.add_argument(
        "notebook", nargs="?", type=Path, default=None, help="notebook to run (default: quickstart)"
    )
    demo.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds allowed per cell (default: 600)",
    )
    demo.add_argument(
        "--offline",
        action="store_true",
        help="use the local stand-in even when an API key is set",
    )
    demo.set_defaults(func=run_demo)

    serve = commands.add_parser(
        "serve",
        help="serve the local DashScope stand-in (same as python -m glm_magic.testing)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    serve.set_defaults(func=run_serve)

    doctor = commands.add_parser(
        "doctor",
        help="check the API key, the endpoint and the widget set-up; say what to fix",
        description=(
            "Check the key for the provider in force, that its endpoint answers (GET /models) "
            "and takes the key (a key from another DashScope region is recognised), and the "
            "ipywidgets front-end extension. Exit status 1 when something must be fixed."
        ),
    )
    doctor.add_argument("--provider", help="provider to check (default: as a notebook would)")
    doctor.add_argument("--base-url", help="endpoint to check (default: as a notebook would)")
    doctor.set_defaults(func=run_doctor)

    models = commands.add_parser("models", help="show the known GLM models and their limits")
    models.set_defaults(func=run_models)
    return parser


def run_models(args: argparse.Namespace) -> int:
    from .listings import models_table
    from .providers import all_providers

    print("\n\n".join(models_table(p.name) for p in all_providers()))
    return 0


def run_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose, failed, report
    from .errors import GLMUsageError
    from .settings import resolve

    try:
        settings = resolve(base_url=args.base_url, provider=args.provider)
    except GLMUsageError as exc:
        raise DemoError(str(exc)) from None
    checks = diagnose(settings)
    print(report(settings, checks))
    return 1 if failed(checks) else 0


def run_serve(args: argparse.Namespace) -> int:
    from .testing.__main__ import main as serve_main

    return serve_main(["--host", args.host, "--port", str(args.port)]) or 0


# -- demo ------------------------------------------------------------------------


@dataclass
class GLMRun:
    """One GLM result seen in the executed notebook."""

    cell: int
    line: str
    info: dict[str, Any]

    def describe(self) -> str:
        info = self.info
        answer = " ".join(str(info.get("answer") or "").split())
        if len(answer) > 70:
            answer = answer[:67] + "..."
        head = f"  [cell {self.cell}] {self.line}"
        thought = f"thinking {info['thinking']:,} chars" if info.get("thinking") else "no thinking"
        facts = f"{info.get('model')}, {info.get('tokens')} tokens, {info.get('seconds', 0):.1f} s"
        facts += f", {thought}"
        if not info.get("complete"):
            return f"{head}\n      FAILED ({info.get('finish_reason')}): {info.get('error')}"
        return f"{head}\n      {facts}: {answer!r}"


def run_demo(args: argparse.Namespace) -> int:
    from .settings import KEY_VARIABLES

    notebook = find_notebook(args.notebook)
    folder = notebook.parent if args.notebook is not None else Path.cwd()
    output = folder / (notebook.name.removesuffix(".ipynb") + ".executed.ipynb")
    check_kernel_requirements(DEMO_MODULES if args.notebook is not None else QUICKSTART_MODULES)

    env = dict(os.environ)
    key_name = next((name for name in KEY_VARIABLES if os.environ.get(name)), None)
    server = None
    if key_name and not args.offline:
        base_url = os.environ.get("GLM_MAGIC_BASE_URL") or "the DashScope default endpoint"
        print(f"Using the API key from ${key_name} against {base_url}.")
    else:
        from .testing import FakeDashScope

        server = FakeDashScope().start()
        env["GLM_MAGIC_BASE_URL"] = server.base_url
        env["GLM_MAGIC_API_KEY"] = server.api_key
        env.pop("DASHSCOPE_API_KEY", None)
        reason = "--offline" if key_name else "No API key set"
        print(
            f"{reason}: running against the bundled local DashScope stand-in "
            f"(glm_magic.testing) at {server.base_url}. Answers are canned."
        )
    print(f"Running {display_path(notebook)} in a kernel on {sys.executable} ...")
    try:
        nb, runs, failure = asyncio.run(
            execute(notebook, env, args.timeout, folder, on_run=lambda run: print(run.describe()))
        )
    finally:
        if server is not None:
            server.stop()

    import nbformat

    try:
        nbformat.write(nb, output)
    except OSError as exc:
        raise DemoError(f"could not write {output}: {exc.strerror or exc}") from None
    print(f"Executed notebook written to {display_path(output)}")
    if failure:
        raise failure
    failed = [run for run in runs if not run.info.get("complete")]
    if failed:
        first = failed[0]
        raise DemoError(
            f"the GLM request in cell {first.cell} did not finish: {first.info.get('error')}"
        )
    if not runs:
        print("(no %glm results in this notebook)")
    return 0


def find_notebook(given: Path | None) -> Path:
    path = given if given is not None else DEFAULT_NOTEBOOK
    if path.is_file():
        return path.resolve()
    if given is None:
        raise DemoError(
            f"the quickstart notebook is missing from this install ({path}); reinstall "
            "glm-magic: pip install --force-reinstall 'glm-magic[demo]'."
        )
    raise DemoError(f"no notebook at {path}.")


def check_kernel_requirements(modules: tuple[str, ...]) -> None:
    """Refuse to start when the demo extra is not installed, naming what is missing."""
    missing = []
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise DemoError(
            f"the demo needs {', '.join(missing)}, not installed in this Python "
            f"({sys.executable}). Install the demo extra: "
            f"{sys.executable} -m pip install 'glm-magic[demo]'"
        )


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def kernel_manager() -> Any:
    """An async kernel manager whose ``python3`` kernel is this interpreter.

    A ``python3`` kernelspec installed elsewhere (``~/.local/share/jupyter``,
    another environment) may point to a Python without glm_magic, so the spec is
    built here instead of looked up.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (ipykernel)",
                language="python",
                name="python3",
            )

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())


async def execute(
    notebook: Path,
    env: dict[str, str],
    timeout: float,
    folder: Path,
    on_run: Callable[[GLMRun], None] | None = None,
) -> tuple[Any, list[GLMRun], DemoError | None]:
    """Run every cell with ``folder`` as the kernel's working directory; returns the
    notebook, the GLM runs seen, and what went wrong or None.

    ``on_run`` is called with each GLM result as soon as its cell has run.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbclient.util import ensure_async
    from nbformat.v4 import new_code_cell

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        km=kernel_manager(),
        timeout=max(1, math.ceil(timeout)),
        startup_timeout=120,
        kernel_name="python3",
        # ipykernel warns about unencrypted TCP on every start; its ports are
        # loopback-only and HMAC-signed, as in any local Jupyter, so keep stderr quiet.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(folder)}},
    )
    runs: list[GLMRun] = []
    failure: DemoError | None = None
    last_id = None
    count = 0
    km = client.km
    interrupted = False

    def on_interrupt() -> None:
        # Ctrl-C interrupts the running cell, as the stop button in Jupyter does (a
        # %%glm cell keeps its partial reply); a second Ctrl-C stops the kernel.
        nonlocal interrupted
        if interrupted:
            asyncio.ensure_future(ensure_async(km.shutdown_kernel(now=True)))
            return
        interrupted = True
        print("\nInterrupting the kernel (Ctrl-C again to stop it) ...", file=sys.stderr)
        asyncio.ensure_future(ensure_async(km.interrupt_kernel()))

    # We own the kernel manager, so ask nbclient to shut the kernel down at the end.
    async with client.async_setup_kernel(env=env, cleanup_kc=True):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_interrupt)
        msg_id = client.kc.kernel_info()
        if inspect.isawaitable(msg_id):
            msg_id = await msg_id
        info = await client.async_wait_for_reply(msg_id)
        if info is not None and "language_info" in info["content"]:
            nb.metadata["language_info"] = info["content"]["language_info"]
        for index, cell in enumerate(list(nb.cells)):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            count += 1
            try:
                await client.async_execute_cell(cell, index, execution_count=count)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                details = textwrap.indent(str(exc).strip(), "  ")
                failure = DemoError(f"cell {index + 1} failed:\n{details}")
            if "%glm" in cell.source:
                result = await probe(client, new_code_cell(PROBE))
                if result is not None and result["id"] != last_id:
                    last_id = result["id"]
                    runs.append(GLMRun(index + 1, glm_line(cell.source), result))
                    if on_run is not None:
                        on_run(runs[-1])
            if interrupted:
                failure = Interrupted(f"interrupted in cell {index + 1}.")
            if failure:
                break
        if shows_widgets(nb):
            client.set_widgets_metadata()
    return nb, runs, failure


async def probe(client: Any, cell: Any) -> dict[str, Any] | None:
    """Run ``cell`` outside the notebook's history and return its JSON output."""
    import json

    nb = client.nb
    nb.cells.append(cell)
    index = len(nb.cells) - 1
    try:
        await client.async_execute_cell(cell, index, store_history=False)
    except Exception:
        return None
    finally:
        nb.cells.pop(index)
        client.clear_display_id_mapping(index)
    text = "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")
    try:
        return json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def shows_widgets(nb: Any) -> bool:
    """True when some output still displays a widget (then its state is worth saving).

    The %%glm live view replaces itself with a static rendering and closes its
    widgets, so the quickstart keeps no widget state: nothing would refer to it.
    """
    return any(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )


def glm_line(source: str) -> str:
    """The line of a cell that holds the %glm call, shortened for the summary."""
    line = next((ln.strip() for ln in source.splitlines() if "%glm" in ln), "")
    return line if len(line) <= 60 else line[:57] + "..."


if __name__ == "__main__":
    sys.exit(main())

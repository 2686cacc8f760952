"""GLM reasoning models in Jupyter: ``%load_ext glm_magic``, then ``%%glm`` cells.

Loading the extension imports only IPython pieces and this package's small
modules; ``openai`` and ``ipywidgets`` are imported on the first request.
"""

from __future__ import annotations

from typing import Any

from .errors import GLMInterrupted, GLMUsageError

__all__ = [
    "BatchResult",
    "Chat",
    "GLMInterrupted",
    "GLMResult",
    "GLMUsageError",
    "Usage",
    "chat",
    "complete",
    "load_ipython_extension",
    "log",
    "map",
]
__version__ = "0.1.0"

_LAZY = {
    "chat": "chats",
    "Chat": "chats",
    "complete": "api",
    "map": "batch",
    "log": "logs",
    "BatchResult": "batch",
    "GLMResult": "result",
    "Usage": "events",
}


def __getattr__(name: str) -> Any:
    """The Python API loads on first use, not at ``%load_ext`` (benchmarks: <= 30 ms)."""
    if name in _LAZY:
        import importlib

        from . import warmup

        warmup.wait()

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def load_ipython_extension(ipython: Any) -> None:
    from . import warmup
    from .magics import GLMMagics

    ipython.register_magics(GLMMagics)
    warmup.start(ipython.magics_manager.registry["GLMMagics"].settings)
    for event, callback in _callbacks():
        if callback not in ipython.events.callbacks[event]:
            ipython.events.register(event, callback)


def unload_ipython_extension(ipython: Any) -> None:
    """Undo the load, including the ``configurables`` entry ``%config GLMMagics`` would find."""
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop("glm", None)
    magics = manager.registry.pop("GLMMagics", None)
    ipython.configurables[:] = [c for c in ipython.configurables if c is not magics]
    for event, callback in _callbacks():
        if callback in ipython.events.callbacks[event]:
            ipython.events.unregister(event, callback)


def _callbacks() -> list[tuple[str, Any]]:
    """The shell events the extension listens to: which cell runs, and its last error."""
    from .cells import cell_runs
    from .summaries import last_error

    return [("pre_run_cell", cell_runs.pre_run_cell), ("post_run_cell", last_error)]

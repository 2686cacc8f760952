"""Prepare the first request in the background while the user writes its prompt.

``%load_ext`` imports nothing heavy (benchmarks: <= 30 ms). Left at that, the
first ``%%glm`` cell would pay about half a second before anything is sent:
importing ``openai`` (0.37 s), ``ipywidgets`` (0.07 s) and the runtime, and
building the HTTP client (its TLS context loads the CA store). :func:`start`
does all of it in a background thread shortly after the extension loads, so
the first cell costs what the second does (``python -m benchmarks --only first``).

Two threads importing at once: Python's per-module import locks make an
import of a module this thread is loading wait until it is loaded, but two
imports that need each other's modules (the runtime has such circles) would
fail with "deadlock detected" in one thread. So every entry point that imports
the runtime (the magics, the lazy names of ``glm_magic``) first calls
:func:`wait`, and the runtime is only ever imported by one thread at a time.
``wait`` is bounded, so even a warm-up stuck behind a lock the caller holds
costs a delay, never a hang. Nothing here may break the load: a failure (no
``openai`` installed, no key yet) is dropped, and the first request meets it
again in the main thread with its usual message.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Any

#: Seconds between ``%load_ext`` and the warm-up: the rest of the loading cell
#: (the kernel's reply, the prompt) finishes first instead of sharing the GIL.
DELAY = 0.05
#: Longest wait for the warm-up; it normally takes half a second.
WAIT_LIMIT = 30.0

_timer: threading.Timer | None = None
_lock = threading.Lock()


def start(settings: Callable[[], Any]) -> None:
    """Warm up in a daemon thread, once per process; ``settings()`` gives the settings in force.

    A daemon, so a kernel never waits for it to exit; an exit during the
    warm-up joins it first (:func:`_at_exit`), so the interpreter never
    shuts down with an import half done in another thread.
    """
    global _timer
    with _lock:
        if _timer is not None:
            return
        _timer = threading.Timer(DELAY, _warm, (settings,))
        _timer.name = "glm-magic-warmup"
        _timer.daemon = True
        _timer.start()
    atexit.register(_at_exit)


def wait() -> None:
    """Let the warm-up finish (or never start) before this thread imports the runtime."""
    timer = _timer
    if timer is None or timer is threading.current_thread():
        return
    timer.cancel()
    timer.join(WAIT_LIMIT)


def _at_exit() -> None:
    wait()


def _warm(settings: Callable[[], Any]) -> None:
    try:
        from . import chats, connections, interpolate, runner  # noqa: F401
        from .client import get_client
        from .views import front_end, text  # noqa: F401

        if front_end() == "widgets":  # imports ipywidgets in a notebook's kernel
            from .views import live  # noqa: F401
        current = settings()
        get_client(current.base_url, current.api_key(), timeout=current.timeout).prepare()
    except Exception:
        # Best effort (see the module docstring): the main thread will say what is wrong.
        return

"""The Python API: the magic's behaviour without the magic."""

from __future__ import annotations

from typing import Any

from . import options as spec
from .errors import GLMUsageError
from .result import GLMResult
from .runner import complete_prompt
from .settings import Settings, resolve
from .views import check_display


def current_settings(
    *,
    model: str | None = None,
    max_tool_rounds: int | None = None,
    **connection: Any,
) -> Settings:
    """Settings as the magic would see them: its ``%config`` when the extension is loaded.

    ``connection`` holds the options the spec places in the settings
    (``base_url``, ``provider``), by name; None is not given.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    magics = shell.magics_manager.registry.get("GLMMagics") if shell is not None else None
    return resolve(
        model=model,
        max_tool_rounds=max_tool_rounds,
        **connection,
        config=magics.trait_values(config=True) if magics is not None else None,
    )


API_ARGUMENTS = ("display", "max_tool_rounds")


def complete(
    prompt: str,
    *,
    display: str = "none",
    max_tool_rounds: int | None = None,
    **options: Any,
) -> GLMResult:
    """Send one prompt and return its result; never raises for provider failures.

    ``options`` are the cell options by their long names (``model``,
    ``provider``, ``base_url``, ``thinking``, ``temperature``, ``top_p``,
    ``top_k``, ``max_tokens``, ``seed``, ``stop``, ``repetition_penalty``,
    ``system``, ``json``, ``schema`` (a pydantic model class or JSON-schema
    dict), ``code``: see ``glm_magic.options``); ``tools=[f, g]`` (or
    ``{"name": f}``) lets the model call those functions, at most
    ``max_tool_rounds`` rounds (default: the magic's setting, 5). ``display``
    is ``"none"`` (default), ``"auto"``, ``"widgets"`` or ``"text"``. A bad
    option raises ``GLMUsageError`` (a ``ValueError``) before anything is sent. An
    interrupt closes the stream and raises ``GLMInterrupted`` (a
    ``KeyboardInterrupt``) whose ``.result`` keeps the partial reply, so a
    cell calling this ends as interrupted too.
    """
    if not isinstance(prompt, str):
        msg = f"complete() needs the prompt as text (str); got {type(prompt).__name__}."
        raise GLMUsageError(msg)
    check_display(display, "complete")
    opts, connection = spec.from_api(options, "complete", also=API_ARGUMENTS)
    settings = current_settings(model=opts.model, max_tool_rounds=max_tool_rounds, **connection)
    return complete_prompt(prompt, opts, settings, display=display)

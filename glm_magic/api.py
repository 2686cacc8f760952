"""The Python API: the magic's behaviour without the magic."""

from __future__ import annotations

from typing import Any

from .errors import GLMUsageError
from .request import Options
from .result import GLMResult
from .runner import complete_prompt
from .settings import Settings, resolve
from .views import check_display


def current_settings(
    *,
    model: str | None = None,
    base_url: str | None = None,
    max_tool_rounds: int | None = None,
) -> Settings:
    """Settings as the magic would see them: its ``%config`` when the extension is loaded."""
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    magics = shell.magics_manager.registry.get("GLMMagics") if shell is not None else None
    return resolve(
        model=model,
        base_url=base_url,
        max_tool_rounds=max_tool_rounds,
        config=magics.trait_values(config=True) if magics is not None else None,
    )


def complete(
    prompt: str,
    *,
    base_url: str | None = None,
    display: str = "none",
    max_tool_rounds: int | None = None,
    **options: Any,
) -> GLMResult:
    """Send one prompt and return its result; never raises for provider failures.

    ``options`` are the cell options by their long names (``model``,
    ``thinking``, ``temperature``, ``top_p``, ``top_k``, ``max_tokens``,
    ``seed``, ``stop``, ``system``, ``json``, ``schema`` (a pydantic model class
    or JSON-schema dict), ``code``); ``tools=[f, g]`` (or ``{"name": f}``) lets
    the model call those functions, at most ``max_tool_rounds`` rounds (default:
    the magic's setting, 5). ``display`` is ``"none"`` (default),
    ``"auto"``, ``"widgets"`` or ``"text"``. A bad option raises
    ``GLMUsageError`` (a ``ValueError``) before anything is sent.
    """
    if not isinstance(prompt, str):
        msg = f"complete() needs the prompt as text (str); got {type(prompt).__name__}."
        raise GLMUsageError(msg)
    check_display(display, "complete")
    opts = Options.from_api(options, "complete")
    settings = current_settings(
        model=opts.model, base_url=base_url, max_tool_rounds=max_tool_rounds
    )
    return complete_prompt(prompt, opts, settings, display=display)

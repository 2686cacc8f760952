"""The Python API: the magic's behaviour without the magic."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .models import CHINA_ENDPOINT, DEFAULT_MODEL
from .request import Options
from .result import GLMResult
from .runner import complete_prompt
from .settings import Settings, pick


def current_settings(*, model: str | None = None, base_url: str | None = None) -> Settings:
    """Settings as the magic would see them: its ``%config`` when the extension is loaded."""
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    magics = shell.magics_manager.registry.get("GLMMagics") if shell is not None else None
    if magics is not None:
        return magics.settings(model=model, base_url=base_url)
    return Settings(
        model=pick(model, None, "GLM_MAGIC_MODEL", DEFAULT_MODEL),
        base_url=pick(base_url, None, "GLM_MAGIC_BASE_URL", CHINA_ENDPOINT),
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
    opts, unknown = Options.from_kwargs(options)
    if unknown:
        msg = f"complete() got unknown options: {', '.join(sorted(unknown))}"
        raise TypeError(msg)
    if isinstance(opts.stop, str):
        opts.stop = [opts.stop]
    settings = current_settings(model=opts.model, base_url=base_url)
    if max_tool_rounds is not None:
        settings = replace(settings, max_tool_rounds=max_tool_rounds)
    return complete_prompt(prompt, opts, settings, display=display)

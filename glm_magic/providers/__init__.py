"""The providers that serve GLM, one module per dialect, and choosing one.

Each module in this package (other than :mod:`.base`) defines ``PROVIDER``;
adding a provider is adding a module. The provider in force is the first of:
``--provider NAME`` (``provider=`` in Python), ``%config GLMMagics.provider``,
``GLM_MAGIC_PROVIDER``, the provider whose host the base URL names, else
``dashscope``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from functools import cache

from ..errors import GLMUsageError
from .base import Provider, ProviderError, Source, read_error

__all__ = ["Provider", "ProviderError", "Source", "all_providers", "choose", "get", "read_error"]

DEFAULT = "dashscope"


@cache
def _registry() -> dict[str, Provider]:
    found: dict[str, Provider] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        provider = importlib.import_module(f"{__name__}.{module.name}").PROVIDER
        found[provider.name] = provider
    return dict(sorted(found.items(), key=lambda item: (item[0] != DEFAULT, item[0])))


def all_providers() -> list[Provider]:
    """Every provider, the default first."""
    return list(_registry().values())


def names() -> list[str]:
    return list(_registry())


def get(name: str, source: str = "--provider") -> Provider:
    """The provider called ``name``; a usage error that lists them otherwise."""
    provider = _registry().get(name.strip().lower()) if isinstance(name, str) else None
    if provider is None:
        msg = f"{source} {name!r} is not a provider; use one of: {', '.join(names())}."
        raise GLMUsageError(msg)
    return provider


def for_url(base_url: str | None) -> Provider | None:
    """The provider whose host ``base_url`` names, if any."""
    if not base_url:
        return None
    return next((p for p in all_providers() if p.serves(base_url)), None)


def choose(
    option: str | None = None,
    configured: str | None = None,
    base_url: str | None = None,
) -> Provider:
    """The provider in force (see the module docstring), strongest first."""
    for source, name in (
        ("--provider", option),
        ("%config GLMMagics.provider", configured),
        ("GLM_MAGIC_PROVIDER", os.environ.get("GLM_MAGIC_PROVIDER")),
    ):
        if name:
            return get(name, source)
    return for_url(base_url) or get(DEFAULT)

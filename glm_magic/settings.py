"""Connection settings, and the one place that decides where each comes from.

:func:`resolve` takes the provider, the model and the base URL from the
first place that has one: the cell option (or Python API argument), ``%config
GLMMagics``, the environment (``GLM_MAGIC_PROVIDER``, ``GLM_MAGIC_MODEL``,
``GLM_MAGIC_BASE_URL``), the default. Without a provider named anywhere, the
base URL's host names it, else it is DashScope; the provider then gives the
default base URL, key variable and model (see :mod:`glm_magic.providers`). The
other settings (timeout, retries, live updates, tool rounds, cache, prices)
have no environment variable: ``%config``, else the default; the store is
off when either ``%config GLMMagics.log = False`` or ``GLM_MAGIC_LOG=0`` says so.

The API key is deliberately not a traitlet: ``%config GLMMagics`` prints every
trait, and a key typed into a cell would be saved with the notebook. It comes
from ``%glm key``, which keeps it in this process only, else from the
environment (``GLM_MAGIC_API_KEY``, then the provider's own variable, such as
``DASHSCOPE_API_KEY``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import defaults, providers
from .errors import GLMUsageError, MissingKeyError, mask_key
from .providers import Provider
from .retry import RetryPolicy
from .store import store_file
from .store import switched_off as store_switched_off

#: The key variables of the default provider, strongest first.
KEY_VARIABLES = ("GLM_MAGIC_API_KEY", "DASHSCOPE_API_KEY")
#: The key sent to a server that needs none (vLLM without --api-key); the SDK wants one.
NO_KEY = "EMPTY"


class _SessionKey:
    """The key typed into ``%glm key``: in memory, never in a repr."""

    value: str | None = None

    def __repr__(self) -> str:
        return f"<session key {mask_key(self.value)}>"


session_key = _SessionKey()


def _default_provider() -> Provider:
    return providers.get(providers.DEFAULT)


@dataclass(frozen=True)
class Settings:
    """``model`` is "" when the provider names no default (a self-hosted server):
    the runner then asks the server which models it serves."""

    model: str = "glm-5"
    base_url: str = "https://dashscope.aliyuncs.com/compatible-mode/v1"
    provider: Provider = field(default_factory=_default_provider)
    timeout: float = defaults.TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    update_interval: float = defaults.UPDATE_INTERVAL
    display: str = "auto"
    max_tool_rounds: int = defaults.MAX_TOOL_ROUNDS
    #: Batch pacing and cap from ``%config`` (None: the provider's known limits; no cap).
    rpm: int | None = None
    tpm: int | None = None
    max_calls: int | None = defaults.MAX_CALLS
    log: bool = True
    cache: bool = False
    prices: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def api_key(self) -> str:
        """The key to send, from ``%glm key`` or the environment; raises if there is none."""
        source, key = key_source(self.provider)
        if not key:
            if not self.provider.key_required:
                return NO_KEY
            raise MissingKeyError(self.provider.key_variable)
        if not (key.isascii() and key.isprintable()):
            msg = (
                f"The API key from {source} has characters an HTTP header cannot carry "
                f"(spaces, accents or control characters). Copy it again from the "
                f"{self.provider.title} console, or run `%glm key`."
            )
            raise GLMUsageError(msg)
        return key

    def describe(self) -> dict[str, str]:
        source, key = key_source(self.provider)
        return {
            "provider": self.provider.name,
            "model": self.model or "(the first model the server lists)",
            "base_url": self.base_url,
            "api_key": f"{mask_key(key)} ({source})" if key else "(not set)",
            "timeout": f"{self.timeout:g} s",
            "retries": f"{self.retry.attempts} (backoff {self.retry.backoff:g} s)",
            "update_interval": f"{self.update_interval:g} s",
            "display": self.display,
            "max_tool_rounds": str(self.max_tool_rounds),
            "rpm": str(self.rpm or "the provider's known limit"),
            "tpm": str(self.tpm or "the provider's known limit"),
            "max_calls": f"{self.max_calls:,}" if self.max_calls else "no cap",
            "store": str(store_file()) if self.log else "off",
            "cache": "on" if self.cache else "off",
        }


def key_source(provider: Provider | None = None) -> tuple[str, str | None]:
    """Where the key comes from and the key, stripped: a ``.env`` file with CRLF
    line ends leaves a ``\\r`` that would otherwise end up quoted in an HTTP error."""
    if session_key.value:
        return "%glm key", session_key.value
    variable = (provider or _default_provider()).key_variable
    for name in ("GLM_MAGIC_API_KEY", variable):
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return "none", None


def resolve(
    *,
    model: str | None = None,
    base_url: str | None = None,
    max_tool_rounds: int | None = None,
    provider: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings in force, strongest first (see the module docstring).

    ``model``, ``base_url``, ``provider`` and ``max_tool_rounds`` are a cell's
    options or an API call's arguments (None: not given); ``config`` is
    GLMMagics's ``%config`` values by trait name, None when the extension is
    not loaded.
    """
    config = config or {}
    url = _base_url(base_url, config.get("base_url"))
    chosen = providers.choose(provider, config.get("provider"), url)
    default = Settings()
    rounds = config.get("max_tool_rounds", default.max_tool_rounds)
    if max_tool_rounds is not None:
        whole = isinstance(max_tool_rounds, int) and not isinstance(max_tool_rounds, bool)
        if not whole or max_tool_rounds < 0:
            msg = "max_tool_rounds must be a whole number, 0 or more (0: no tool calls run)."
            raise GLMUsageError(msg)
        rounds = max_tool_rounds
    return Settings(
        model=model
        or config.get("model")
        or os.environ.get("GLM_MAGIC_MODEL")
        or chosen.default_model
        or "",
        base_url=url or chosen.base_url,
        provider=chosen,
        timeout=config.get("timeout", default.timeout),
        retry=RetryPolicy(
            attempts=config.get("max_retries", default.retry.attempts),
            backoff=config.get("retry_backoff", default.retry.backoff),
        ),
        update_interval=config.get("update_interval", default.update_interval),
        display=config.get("display", default.display),
        max_tool_rounds=rounds,
        rpm=config.get("rpm") or None,
        tpm=config.get("tpm") or None,
        max_calls=config.get("max_calls", defaults.MAX_CALLS) or None,
        log=config.get("log", default.log) and not store_switched_off(),
        cache=config.get("cache", default.cache),
        prices=config.get("prices") or {},
    )


def _base_url(option: str | None, configured: str | None) -> str | None:
    """The base URL asked for (None: the provider's own), refused at once if it
    is no HTTP URL.

    Sent as is, a mistyped URL would only fail as a connection error after
    every retry.
    """
    sources = [
        ("--base-url (base_url=)", option),
        ("%config GLMMagics.base_url", configured),
        ("GLM_MAGIC_BASE_URL", os.environ.get("GLM_MAGIC_BASE_URL")),
    ]
    for source, url in sources:
        if url:
            if not (
                isinstance(url, str) and url.strip().lower().startswith(("http://", "https://"))
            ):
                msg = (
                    f"The base URL {url!r} (from {source}) is not an http:// or https:// URL. "
                    "Leave it unset for the provider's own (`%glm providers` lists them)."
                )
                raise GLMUsageError(msg)
            return url.strip()
    return None

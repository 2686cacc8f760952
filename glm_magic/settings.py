"""Connection settings, resolved strongest first: option, %config, environment, default.

The API key is deliberately not a traitlet: ``%config GLMMagics`` prints every
trait, and a key typed into a cell would be saved with the notebook. It comes
from the environment or from ``%glm key``, which keeps it in this process only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .client import RetryPolicy
from .errors import GLMUsageError, MissingKeyError, mask_key
from .models import CHINA_ENDPOINT, DEFAULT_MODEL

KEY_VARIABLES = ("GLM_MAGIC_API_KEY", "DASHSCOPE_API_KEY")


class _SessionKey:
    """The key typed into ``%glm key``: in memory, never in a repr."""

    value: str | None = None

    def __repr__(self) -> str:
        return f"<session key {mask_key(self.value)}>"


session_key = _SessionKey()


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    base_url: str = CHINA_ENDPOINT
    timeout: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    update_interval: float = 0.08
    display: str = "auto"
    max_tool_rounds: int = 5

    def api_key(self) -> str:
        """The key to send, from ``%glm key`` or the environment; raises if there is none."""
        source, key = key_source()
        if not key:
            raise MissingKeyError()
        if not (key.isascii() and key.isprintable()):
            msg = (
                f"The API key from {source} has characters an HTTP header cannot carry "
                "(spaces, accents or control characters). Copy it again from the Model "
                "Studio console, or run `%glm key`."
            )
            raise GLMUsageError(msg)
        return key

    def describe(self) -> dict[str, str]:
        source, key = key_source()
        return {
            "model": self.model,
            "base_url": self.base_url,
            "api_key": f"{mask_key(key)} ({source})" if key else "(not set)",
            "timeout": f"{self.timeout:g} s",
            "retries": f"{self.retry.attempts} (backoff {self.retry.backoff:g} s)",
            "update_interval": f"{self.update_interval:g} s",
            "display": self.display,
            "max_tool_rounds": str(self.max_tool_rounds),
        }


def key_source() -> tuple[str, str | None]:
    """Where the key comes from and the key, stripped: a ``.env`` file with CRLF
    line ends leaves a ``\\r`` that would otherwise end up quoted in an HTTP error."""
    if session_key.value:
        return "%glm key", session_key.value
    for name in KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return "none", None


def pick(option: str | None, configured: str | None, env_name: str, default: str) -> str:
    """The strongest of: cell option, %config value, environment variable, default."""
    return option or configured or os.environ.get(env_name) or default

"""Exceptions and the one place that keeps the API key out of messages."""

from __future__ import annotations


class GLMUsageError(ValueError):
    """A mistake in what the user asked for, found before anything was sent.

    The magic shows it as IPython's ``UsageError`` (one paragraph, no traceback);
    the Python API raises it as a ``ValueError`` so ordinary code can catch it.
    """


class UnknownOptionError(GLMUsageError, TypeError):
    """A keyword that is not an option: a usage error, and the ``TypeError``
    Python raises for any unknown keyword argument."""


class MissingKeyError(GLMUsageError):
    def __init__(self, variable: str = "DASHSCOPE_API_KEY") -> None:
        super().__init__(
            f"No API key. Set GLM_MAGIC_API_KEY or {variable} in the environment "
            "before starting Jupyter, or run `%glm key` to type it in for this session "
            "(it is kept in memory only)."
        )


def mask_key(key: str | None) -> str:
    """Enough of a key to tell two apart, never enough to use one."""
    if not key:
        return "(not set)"
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}...{key[-4:]}"


def redact(text: str, key: str | None) -> str:
    """Remove every appearance of ``key`` from text we are about to show or store.

    Providers sometimes echo part of a bad key in their error message, and an
    HTTP library quotes a malformed one escaped; any text that came from
    outside passes through here before it reaches the user.
    """
    if key and len(key) >= 4:
        for form in {key, repr(key)[1:-1], ascii(key)[1:-1]}:
            text = text.replace(form, mask_key(key))
    return text

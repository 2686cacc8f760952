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
        return "****"
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


class GLMInterrupted(KeyboardInterrupt):
    """The user stopped a run; what arrived is kept on ``result``.

    It is a ``KeyboardInterrupt``, so a notebook cell that raises it ends as
    interrupted and the front end cancels the cells queued after it (as for
    ``time.sleep``), and nbclient/papermill stop there. ``where`` says where
    the user finds the partial result; IPython prints that one line
    (``_render_traceback_``) instead of a traceback.
    """

    def __init__(self, result: object, where: str = "this exception's .result") -> None:
        super().__init__(f"Stopped; the partial result is kept in {where}.")
        self.result = result
        self.where = where

    def kept_in(self, where: str) -> GLMInterrupted:
        """The same interrupt, naming where the caller stored the result."""
        return GLMInterrupted(self.result, where)

    def _render_traceback_(self) -> list[str]:
        return [f"KeyboardInterrupt: {self.args[0]}"]

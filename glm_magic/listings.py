"""The text of ``%glm models`` and ``%glm providers``: the catalogue and the
providers, laid out for reading, next to what the provider itself lists."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .catalogue import is_glm, models_of
from .providers import Provider, all_providers
from .wording import text_table


def models_table(provider: str, served: Iterable[str] | None = None) -> str:
    """The catalogue for ``provider``, merged with the ids its ``GET /models`` listed.

    ``served`` None: the provider did not answer, so the catalogue stands
    alone. A catalogue model the provider does not list is marked; a GLM it
    lists that the catalogue does not know is added, with no limits.
    """
    known = models_of(provider)
    listed = None if served is None else list(dict.fromkeys(served))
    rows = [("model", "context", "max input", "max thinking", "max answer", "notes")]
    for info in known:
        notes = [n for n in (info.status, info.note) if n]
        if listed is not None and info.name not in listed:
            notes.insert(0, "NOT LISTED by the provider now")
        if info.temperature is not None:
            notes.append(f"default temperature {info.temperature:g}")
        limits = (info.context, info.max_input, info.max_thinking, info.max_answer)
        rows.append((info.name, *(_number(n) for n in limits), "; ".join(notes)))
    names = {m.name for m in known}
    for model_id in listed or []:
        if model_id not in names and is_glm(model_id):
            rows.append((model_id, "?", "?", "?", "?", "listed by the provider; not catalogued"))
    if listed is None:
        head = f"{provider}: the catalogue alone (GET /models did not answer)."
    else:
        others = sum(1 for m in listed if not is_glm(m))
        head = (
            f"{provider}: the catalogue merged with GET /models "
            f"({len(listed)} ids, {others} not GLM)."
        )
    if len(rows) == 1:
        rows.append(("(none known)", "", "", "", "", ""))
    sources = sorted({(s.url, s.as_of) for m in known for s in m.sources.values()})
    lines = [
        head,
        text_table(rows, right=range(1, 5)),
        "",
        "? = no public page confirms it, so nothing is checked here. Other ids pass through.",
    ]
    if sources:
        lines += ["Sources:", *(f"  {url} (as of {as_of})" for url, as_of in sources)]
    return "\n".join(lines)


def providers_table(current: Provider) -> str:
    """Every provider: base URL, key variable and whether it is set, thinking switch."""
    rows = [("provider", "base URL", "key variable", "key", "thinking switch")]
    for p in all_providers():
        state = "set" if os.environ.get(p.key_variable, "").strip() else "not set"
        if not p.key_required and state == "not set":
            state = "not set (optional)"
        mark = "* " if p.name == current.name else "  "
        rows.append((mark + p.name, p.base_url, p.key_variable, state, p.switch))
    key = "set" if os.environ.get("GLM_MAGIC_API_KEY", "").strip() else "not set"
    return (
        f"{text_table(rows)}\n\n* in force. GLM_MAGIC_API_KEY ({key}) is used first for any "
        "provider. Choose with --provider NAME, %config GLMMagics.provider, or "
        "GLM_MAGIC_PROVIDER; otherwise the base URL's host decides, else dashscope."
    )


def _number(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"

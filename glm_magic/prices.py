"""What a run cost: prices as data, per provider's price list, model, input tier and currency.

Each price carries the page it was read from and the date it was read. A
model, tier or region with no published price is absent, and its cost is
unknown (``None``), never guessed from a neighbour: the caller says "cost
unknown". ``%config GLMMagics.prices`` adds or replaces prices, e.g.
``{"glm-4.6": {"input": 0.6, "output": 2.2, "currency": "USD"}}`` (per
million tokens; a key ``"zai:glm-4.6"`` applies to one provider only).

Thinking tokens are billed as output (DashScope, Zhipu and Z.ai all count
``reasoning_tokens`` inside ``completion_tokens``), so the output price
applies to ``completion_tokens`` as reported. Tiers are chosen by the input
tokens of the request, as DashScope's tiered prices are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import GLMUsageError

PER = 1_000_000
SYMBOLS = {"CNY": "¥", "USD": "$"}


@dataclass(frozen=True)
class Price:
    """One published price: per million tokens, for requests of ``above`` < input <= ``up_to``."""

    price_list: str
    model: str
    currency: str
    input: float
    output: float
    above: int = 0
    up_to: int | None = None
    source: str = ""
    read: str = ""

    def covers(self, input_tokens: int) -> bool:
        low = self.above == 0 or input_tokens > self.above
        return low and (self.up_to is None or input_tokens <= self.up_to)


_ALIYUN_GLM45 = "https://help.aliyun.com/zh/model-studio/glm-4-5"
_ALIYUN_GLM45_AIR = "https://help.aliyun.com/zh/model-studio/glm-4-5-air"
_ALIYUN_GLM5 = "https://help.aliyun.com/zh/model-studio/glm-9 (the glm-5 page)"
_BIGMODEL = "https://docs.bigmodel.cn/cn/guide/start/pricing"
_ZAI = "https://docs.z.ai/guides/overview/pricing"
_ZAI_53 = "https://docs.z.ai/guides/overview/pricing (as quoted by VladoIvankovic/Codeep v2.20.0)"
_OPENROUTER = "https://openrouter.ai/z-ai/glm-4.6 (as quoted by coder/mux commit 7e210e0)"
_OR_45 = "https://openrouter.ai/z-ai/glm-4.5"
_OR_45_AIR = "https://openrouter.ai/z-ai/glm-4.5-air"
_READ = "2026-12-01"

#: The built-in prices. Searched for and not found on a provider's own page
#: (2026-12-01), so "cost unknown" unless ``%config GLMMagics.prices`` says:
#: DashScope glm-5 up to 32k input tokens, glm-4.6 and glm-4.7, and every
#: international (USD) DashScope price; Zhipu glm-5, glm-5.1 and glm-4.6; Z.ai
#: glm-5.1 (third-party pages disagree); OpenRouter z-ai/glm-5.1.
PRICES: tuple[Price, ...] = (
    # DashScope, China (Beijing): CNY, tiered by input tokens ("32k" read as 32,768).
    Price("dashscope", "glm-4.5", "CNY", 3.0, 14.0, 0, 32_768, _ALIYUN_GLM45, _READ),
    Price("dashscope", "glm-4.5", "CNY", 4.0, 16.0, 32_768, 98_304, _ALIYUN_GLM45, _READ),
    Price("dashscope", "glm-4.5-air", "CNY", 0.8, 6.0, 0, 32_768, _ALIYUN_GLM45_AIR, _READ),
    Price("dashscope", "glm-4.5-air", "CNY", 1.2, 8.0, 32_768, 131_072, _ALIYUN_GLM45_AIR, _READ),
    # Only the 32k < input <= 200k tier of glm-5 was readable; shorter requests: unknown.
    Price("dashscope", "glm-5", "CNY", 6.0, 22.0, 32_768, 204_800, _ALIYUN_GLM5, _READ),
    # Zhipu (bigmodel.cn): CNY.
    Price("zhipu", "glm-5.3", "CNY", 8.0, 28.0, source=_BIGMODEL, read=_READ),
    # Z.ai: USD.
    Price("zai", "glm-4.5", "USD", 0.6, 2.2, source=_ZAI, read=_READ),
    Price("zai", "glm-4.5-air", "USD", 0.2, 1.1, source=_ZAI, read=_READ),
    Price("zai", "glm-4.6", "USD", 0.6, 2.2, source=_ZAI, read=_READ),
    Price("zai", "glm-4.7", "USD", 0.6, 2.2, source=_ZAI, read=_READ),
    Price("zai", "glm-5", "USD", 1.0, 3.2, source=_ZAI, read=_READ),
    Price("zai", "glm-5.3", "USD", 1.40, 4.40, source=_ZAI_53, read=_READ),
    # OpenRouter: USD (its prices move with the routed providers).
    Price("openrouter", "z-ai/glm-4.5", "USD", 0.33, 1.32, source=_OR_45, read=_READ),
    Price("openrouter", "z-ai/glm-4.5-air", "USD", 0.14, 0.86, source=_OR_45_AIR, read=_READ),
    Price("openrouter", "z-ai/glm-4.6", "USD", 0.40, 1.75, source=_OPENROUTER, read=_READ),
)

#: Providers that bill per region: their hosts (or host suffixes) and each one's
#: price list, the provider's default region first. A host of the provider's
#: own that is not listed (DashScope's US and other regions) bills at prices
#: this table does not have.
_REGIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "dashscope": (
        ("dashscope.aliyuncs.com", "dashscope"),
        ("cn-beijing.maas.aliyuncs.com", "dashscope"),
        ("dashscope-intl.aliyuncs.com", "dashscope-intl"),
        ("ap-southeast-1.maas.aliyuncs.com", "dashscope-intl"),
    ),
}


def price_list(provider: str, base_url: str) -> str | None:
    """The price list of ``provider`` (its name) at ``base_url``; None when unknown.

    The provider in force decides, not the host: a proxy, gateway or local
    server that speaks for a provider keeps that provider's prices (and its
    region's, the default one when the host is not the provider's own). Only
    a provider with regional prices looks at its own hosts: DashScope's
    international endpoint bills in USD, its mainland one in CNY.
    """
    regions = _REGIONS.get(provider)
    if not regions:
        return provider
    from .providers import get

    if not get(provider).serves(base_url):
        return regions[0][1]
    host = (urlsplit(base_url).hostname or "").lower()
    for suffix, name in regions:
        if host == suffix or host.endswith("." + suffix):
            return name
    return None


@dataclass(frozen=True)
class Cost:
    """An amount and its currency; ``amount`` None when the price is unknown."""

    amount: float | None
    currency: str | None

    def __str__(self) -> str:
        return cost_text(self.amount, self.currency)


UNKNOWN = Cost(None, None)


def find(
    provider: str,
    base_url: str,
    model: str,
    input_tokens: int,
    overrides: Mapping[str, Any] | None = None,
) -> Price | None:
    """The price for a request of ``input_tokens`` to ``model`` at ``provider``, if known.

    ``%config GLMMagics.prices`` first: ``provider:model`` (or the regional
    list's name, ``dashscope-intl:model``), then ``model``; then the table.
    """
    listed = price_list(provider, base_url)
    for key in dict.fromkeys((f"{provider}:{model}", f"{listed}:{model}", model)):
        if overrides and key in overrides:
            return _override(key, overrides[key])
    for price in PRICES:
        if price.price_list == listed and price.model == model and price.covers(input_tokens):
            return price
    return None


def estimate(
    provider: str,
    base_url: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    overrides: Mapping[str, Any] | None = None,
) -> Cost:
    """The cost of one request of this size (the pacing and dry-run estimate)."""
    price = find(provider, base_url, model, input_tokens, overrides)
    if price is None:
        return UNKNOWN
    amount = (input_tokens * price.input + output_tokens * price.output) / PER
    return Cost(amount, price.currency)


def cost_of(
    usage: Any,
    provider: str,
    base_url: str,
    models: tuple[str, ...],
    overrides: Mapping[str, Any] | None = None,
) -> Cost:
    """The cost of a run's ``Usage`` (thinking is inside ``completion_tokens``).

    ``models`` are tried in order: the id the stream named, then the one
    asked for. A stream may name a dated snapshot (``glm-5-0401`` for
    ``-m glm-5``) that no price list shows; the provider bills it as the
    model asked for.
    """
    for model in dict.fromkeys(m for m in models if m):
        cost = estimate(
            provider, base_url, model, usage.prompt_tokens, usage.completion_tokens, overrides
        )
        if cost.amount is not None:
            return cost
    return UNKNOWN


def total(costs: list[Cost]) -> Cost:
    """Several costs added up: unknown if any is unknown or currencies differ."""
    currencies = {c.currency for c in costs}
    if not costs or any(c.amount is None for c in costs) or len(currencies) != 1:
        return UNKNOWN if costs else Cost(0.0, None)
    return Cost(sum(c.amount or 0.0 for c in costs), currencies.pop())


def cost_text(amount: float | None, currency: str | None) -> str:
    """``¥0.0123``, ``$1.20``, ``0.5 EUR``, or ``cost unknown``."""
    if amount is None:
        return "cost unknown"
    digits = f"{amount:.4f}" if amount < 1 else f"{amount:,.2f}"
    symbol = SYMBOLS.get(currency or "")
    return f"{symbol}{digits}" if symbol else f"{digits} {currency or ''}".rstrip()


def check_overrides(value: Any) -> dict[str, Any]:
    """Validate ``%config GLMMagics.prices``: ``{model: {"input", "output", "currency"}}``."""
    if not isinstance(value, Mapping):
        raise GLMUsageError(_OVERRIDE_HELP)
    for key, entry in value.items():
        _override(key, entry)
    return dict(value)


_OVERRIDE_HELP = (
    "GLMMagics.prices maps a model id (or 'provider:model') to its price per million "
    'tokens, e.g. {"glm-4.6": {"input": 0.6, "output": 2.2, "currency": "USD"}}.'
)


def _override(key: Any, entry: Any) -> Price:
    ok = (
        isinstance(key, str)
        and isinstance(entry, Mapping)
        and all(
            isinstance(entry.get(n), int | float) and not isinstance(entry.get(n), bool)
            for n in ("input", "output")
        )
        and entry["input"] >= 0
        and entry["output"] >= 0
        and isinstance(entry.get("currency"), str)
        and entry["currency"].strip()
    )
    if not ok:
        raise GLMUsageError(f"{_OVERRIDE_HELP} The entry {key!r}: {entry!r} is not like that.")
    provider, _, model = key.rpartition(":")
    return Price(
        provider or "*",
        model,
        entry["currency"].strip().upper(),
        float(entry["input"]),
        float(entry["output"]),
        source="%config GLMMagics.prices",
    )

"""Cost: prices as data with their source, never a guessed price."""

from __future__ import annotations

import pytest
from conftest import run

from glm_magic import prices
from glm_magic.events import Usage
from glm_magic.testing import Reply

CHINA = "https://dashscope.aliyuncs.com/compatible-mode/v1"
INTL = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"


def test_every_price_names_its_source_and_the_date_it_was_read():
    for price in prices.PRICES:
        assert price.source.startswith("https://") and price.read, price


def test_a_tiered_price_is_chosen_by_the_input_tokens_and_thinking_is_billed_as_output():
    usage = Usage(
        prompt_tokens=1000, completion_tokens=3000, total_tokens=4000, reasoning_tokens=2000
    )
    cost = prices.cost_of(usage, CHINA, "glm-4.5")
    assert cost.currency == "CNY"
    assert cost.amount == pytest.approx((1000 * 3 + 3000 * 14) / 1e6)
    long = Usage(prompt_tokens=40_000, completion_tokens=1000, total_tokens=41_000)
    assert prices.cost_of(long, CHINA, "glm-4.5").amount == pytest.approx(
        (40_000 * 4 + 16_000) / 1e6
    )


def test_an_unknown_price_is_unknown_not_guessed():
    usage = Usage(10, 10, 20)
    assert prices.cost_of(usage, INTL, "glm-4.5") == prices.UNKNOWN  # no USD list found
    assert prices.cost_of(usage, CHINA, "glm-9") == prices.UNKNOWN
    assert prices.cost_of(usage, CHINA, "glm-5") == prices.UNKNOWN  # its short tier: unknown
    assert str(prices.UNKNOWN) == "cost unknown"


def test_overrides_add_or_replace_prices_for_a_model_or_one_provider():
    usage = Usage(1_000_000, 1_000_000, 2_000_000)
    mine = {"glm-4.5": {"input": 1, "output": 2, "currency": "usd"}}
    assert prices.cost_of(usage, INTL, "glm-4.5", mine) == prices.Cost(3.0, "USD")
    only_zai = {"zai:glm-4.5": {"input": 1, "output": 1, "currency": "USD"}}
    assert prices.cost_of(usage, INTL, "glm-4.5", only_zai) == prices.UNKNOWN


def test_the_estimate_for_pacing_and_dry_runs_prices_a_request_of_a_given_size():
    cost = prices.estimate(CHINA, "glm-4.5-air", 10_000, 1000)
    assert cost.currency == "CNY"
    assert cost.amount == pytest.approx((10_000 * 0.8 + 1000 * 6) / 1e6)


def test_costs_add_up_only_in_one_currency():
    assert prices.total([prices.Cost(1.0, "CNY"), prices.Cost(2.0, "CNY")]) == prices.Cost(
        3.0, "CNY"
    )
    assert prices.total([prices.Cost(1.0, "CNY"), prices.Cost(2.0, "USD")]) == prices.UNKNOWN
    assert prices.total([prices.Cost(1.0, "CNY"), prices.UNKNOWN]) == prices.UNKNOWN


def test_cost_reads_as_money():
    assert prices.cost_text(0.00123, "CNY") == "¥0.0012"
    assert prices.cost_text(12.5, "USD") == "$12.50"
    assert prices.cost_text(2, "EUR") == "2.00 EUR"


def test_the_result_and_its_usage_line_carry_the_cost(ip, glm_server, capsys):
    ip.run_line_magic(
        "config", "GLMMagics.prices = {'glm-4.5': {'input': 2, 'output': 8, 'currency': 'CNY'}}"
    )
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    glm_server.queue(Reply(answer="hi", usage=usage), Reply(answer="hi", usage=usage))
    result = run(ip, "%glm -m glm-4.5 hi").result
    assert (result.cost, result.currency) == (pytest.approx(0.006), "CNY")
    assert "¥0.0060" in capsys.readouterr().out
    result = run(ip, "%glm -m glm-4.6 hi").result
    assert (result.cost, result.currency) == (None, None)
    assert "cost unknown" in capsys.readouterr().out


def test_bad_price_overrides_are_refused_when_set(ip):
    with pytest.raises(Exception, match="per million"):
        ip.magics_manager.registry["GLMMagics"].prices = {"glm-4.5": {"input": "cheap"}}

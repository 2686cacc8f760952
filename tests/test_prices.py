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
    cost = prices.cost_of(usage, "dashscope", CHINA, ("glm-4.5",))
    assert cost.currency == "CNY"
    assert cost.amount == pytest.approx((1000 * 3 + 3000 * 14) / 1e6)
    long = Usage(prompt_tokens=40_000, completion_tokens=1000, total_tokens=41_000)
    assert prices.cost_of(long, "dashscope", CHINA, ("glm-4.5",)).amount == pytest.approx(
        (40_000 * 4 + 16_000) / 1e6
    )


def test_an_unknown_price_is_unknown_not_guessed():
    usage = Usage(10, 10, 20)
    unknown = [(INTL, "glm-4.5"), (CHINA, "glm-9"), (CHINA, "glm-5")]  # glm-5: its short tier
    for base_url, model in unknown:
        assert prices.cost_of(usage, "dashscope", base_url, (model,)) == prices.UNKNOWN, model
    assert str(prices.UNKNOWN) == "cost unknown"


def test_overrides_add_or_replace_prices_for_a_model_or_one_provider():
    usage = Usage(1_000_000, 1_000_000, 2_000_000)
    mine = {"glm-4.5": {"input": 1, "output": 2, "currency": "usd"}}
    assert prices.cost_of(usage, "dashscope", INTL, ("glm-4.5",), mine) == prices.Cost(3.0, "USD")
    only_zai = {"zai:glm-4.5": {"input": 1, "output": 1, "currency": "USD"}}
    assert prices.cost_of(usage, "dashscope", INTL, ("glm-4.5",), only_zai) == prices.UNKNOWN


def test_the_provider_in_force_picks_the_price_list_not_the_host():
    """A proxy, gateway or local server keeps its provider's prices and the user's."""
    usage = Usage(1_000_000, 1_000_000, 2_000_000)
    proxy = "http://127.0.0.1:8000/v1"
    assert prices.cost_of(usage, "zai", proxy, ("glm-5",)) == prices.Cost(4.2, "USD")
    short = Usage(10_000, 1_000, 11_000)
    cost = prices.cost_of(short, "dashscope", proxy, ("glm-4.5",))
    assert (cost.amount, cost.currency) == (pytest.approx(0.044), "CNY")  # the mainland list
    mine = {"zai:glm-4.5": {"input": 1, "output": 1, "currency": "USD"}}
    assert prices.cost_of(usage, "zai", proxy, ("glm-4.5",), mine) == prices.Cost(2.0, "USD")
    assert prices.cost_of(usage, "vllm", proxy, ("glm-5",)) == prices.UNKNOWN
    z47 = prices.cost_of(usage, "zai", proxy, ("glm-4.7",))
    assert (z47.amount, z47.currency) == (pytest.approx(2.8), "USD")


def test_a_dated_model_id_is_priced_as_the_model_asked_for():
    usage = Usage(1_000_000, 1_000_000, 2_000_000)
    both = ("glm-5-0401", "glm-5")
    assert prices.cost_of(usage, "zai", "https://api.z.ai/api/paas/v4", both).amount == 4.2


def test_the_estimate_for_pacing_and_dry_runs_prices_a_request_of_a_given_size():
    cost = prices.estimate("dashscope", CHINA, "glm-4.5-air", 10_000, 1000)
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


def test_a_config_price_holds_for_its_provider_behind_any_base_url(ip, glm_server, capsys):
    ip.run_line_magic(
        "config", "GLMMagics.prices = {'zai:glm-5': {'input': 2, 'output': 8, 'currency': 'USD'}}"
    )
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    glm_server.queue(Reply(answer="hi", usage=usage))
    line = f"--provider zai -m glm-5 --base-url {glm_server.base_url} hi"
    result = ip.run_line_magic("glm", line)
    assert (result.cost, result.currency) == (pytest.approx(0.006), "USD")
    assert "$0.0060" in capsys.readouterr().out


def test_a_stream_naming_a_dated_model_costs_what_the_model_asked_for_costs(ip, glm_server, capsys):
    ip.run_line_magic(
        "config", "GLMMagics.prices = {'glm-5': {'input': 2, 'output': 8, 'currency': 'CNY'}}"
    )
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    glm_server.queue(Reply(answer="hi", usage=usage, model="glm-5-0401"))
    result = run(ip, "%glm -m glm-5 hi").result
    assert result.model == "glm-5-0401", "the id the stream named"
    assert (result.cost, result.currency) == (pytest.approx(0.006), "CNY")


def test_bad_price_overrides_are_refused_when_set(ip):
    with pytest.raises(Exception, match="per million"):
        ip.magics_manager.registry["GLMMagics"].prices = {"glm-4.5": {"input": "cheap"}}

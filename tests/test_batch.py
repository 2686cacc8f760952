"""Batches: ``glm_magic.map`` and ``%%glm --each``, against the fake DashScope server.

Every batch here really runs N worker threads over the openai SDK and real
sockets; the server's counters say how many requests and connections it saw
at once, and each result's request id ties it to the request that carried its
prompt.
"""

from __future__ import annotations

import pickle
import random
import signal
import threading
import time

import pandas as pd
import pytest
from conftest import interrupt_after, run

import glm_magic
from glm_magic import BatchResult, GLMResult
from glm_magic.testing import Fault, Reply
from glm_magic.testing.kernel import KernelSession


def sent_prompt(server, request_id: str) -> str:
    """The user message of the request the server answered with ``request_id``."""
    (request,) = [r for r in server.requests if r.request_id == request_id]
    return request.body["messages"][-1]["content"]


def cell(ip, capsys, source: str):
    """Run a cell; returns (its value, stdout, stderr)."""
    result = run(ip, source)
    out, err = capsys.readouterr()
    return result.result, out, err


# -- glm_magic.map ---------------------------------------------------------------------


def test_results_come_back_in_input_order_whatever_order_they_finish_in(ip, glm_server):
    prompts = [f"question {i}" for i in range(24)]
    rng = random.Random(7)
    glm_server.queue(*(Reply(answer="ok", first_delay=rng.uniform(0, 0.15)) for _ in prompts))
    batch = glm_magic.map(prompts, concurrency=6)
    assert isinstance(batch, BatchResult) and isinstance(batch, list)
    assert all(isinstance(r, GLMResult) and r.complete for r in batch)
    assert [r.prompt for r in batch] == prompts
    assert [sent_prompt(glm_server, r.request_id) for r in batch] == prompts
    finished = sorted(range(len(batch)), key=lambda i: batch[i].total_time)
    assert finished != list(range(len(batch))), "the latencies really reordered completion"


def test_every_option_applies_to_every_call(ip, glm_server):
    batch = glm_magic.map(
        ["a", "b", "c"],
        concurrency=2,
        model="glm-4.5",
        thinking=False,
        temperature=0.2,
        system="Be brief.",
    )
    assert batch.answers == [f"You said: {p} (2 messages received)" for p in "abc"]
    for request in glm_server.requests:
        body = request.body
        assert (body["model"], body["enable_thinking"], body["temperature"]) == (
            "glm-4.5",
            False,
            0.2,
        )
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_one_failing_item_never_loses_the_others(ip, glm_server):
    glm_server.queue(Fault("data_inspection_failed"))
    batch = glm_magic.map([f"row {i}" for i in range(12)], concurrency=4)
    assert batch.counts() == {"done": 11, "failed": 1, "interrupted": 0}
    ((label, failed),) = batch.failed
    assert failed.error_code == "data_inspection_failed" and "inappropriate" in failed.error
    assert batch.answers[label] is None
    assert all(a.startswith("You said: row") for i, a in enumerate(batch.answers) if i != label)
    summary = batch.summary()
    assert "11 done, 1 failed" in summary
    assert "1 × data_inspection_failed" in summary


def test_map_takes_tools_with_a_round_limit_that_a_resume_keeps(ip, glm_server):
    calls = []

    def add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    asks = [Reply(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]) for _ in range(4)]
    glm_server.queue(*asks)
    batch = glm_magic.map(["add 1 and 2", "add 1 and 2"], tools=[add], max_tool_rounds=0)
    assert [r.error_code for r in batch] == ["max_tool_rounds"] * 2
    assert "after 0 rounds" in batch[0].error
    glm_magic.batch.resume(batch)
    assert [r.error_code for r in batch] == ["max_tool_rounds"] * 2
    assert calls == [] and len(glm_server.requests) == 4
    assert glm_server.requests[0].body["tools"][0]["function"]["name"] == "add"


def test_a_429_storm_slows_the_batch_down_instead_of_failing_items(ip, glm_server):
    glm_server.queue(*[Fault("rate_limit", retry_after=0.05)] * 12)
    batch = glm_magic.map([f"q{i}" for i in range(16)], concurrency=8)
    assert batch.counts()["done"] == 16
    assert len(glm_server.requests) == 16 + 12
    assert batch.rate_limited == 12
    assert batch.lowest_concurrency < 8
    assert "Rate limited 12 times" in batch.summary()


def test_peak_open_connections_never_exceed_the_concurrency(ip, glm_server):
    glm_server.default_latency = 0.05
    batch = glm_magic.map([f"q{i}" for i in range(24)], concurrency=4)
    assert batch.counts()["done"] == 24
    assert glm_server.max_concurrent_streams == 4
    assert glm_server.max_open_connections <= 4
    assert glm_server.total_connections <= 4, "finished streams leave their connections reusable"


def test_a_batch_result_is_plain_data(ip, glm_server):
    batch = glm_magic.map(["x", "y"], concurrency=2)
    copy = pickle.loads(pickle.dumps(batch))
    assert copy.answers == batch.answers and copy.model == batch.model
    assert not [t for t in threading.enumerate() if t.name == "glm-batch-worker"]


def test_bad_arguments_raise_before_anything_is_sent(ip, glm_server):
    with pytest.raises(glm_magic.GLMUsageError, match="concurrency"):
        glm_magic.map(["a"], concurrency=0)
    with pytest.raises(glm_magic.GLMUsageError, match="item 1.*empty"):
        glm_magic.map(["a", "  "])
    with pytest.raises(TypeError, match="colour"):
        glm_magic.map(["a"], colour="red")
    assert glm_server.requests == []


# -- %%glm --each ---------------------------------------------------------------------


@pytest.fixture
def cities(ip):
    frame = pd.DataFrame(
        {"city": ["Lyon", "Oslo", "Lima"], "size": [3, 1, 2]}, index=["c", "a", "b"]
    )
    ip.user_ns["r_cities"] = frame
    return frame


def test_each_row_of_a_dataframe_gives_a_series_on_its_index(ip, glm_server, capsys, cities):
    value, out, err = cell(
        ip, capsys, "%%glm --each r_cities -j 2 -o r_job\nWhere is {row.city} ({row['size']})?"
    )
    assert err == ""
    assert isinstance(value, pd.Series)
    assert list(value.index) == ["c", "a", "b"]
    assert value["a"] == "You said: Where is Oslo (1)? (1 messages received)"
    job = ip.user_ns["r_job"]
    assert ip.user_ns["_glm"] is job
    assert job.to_series().equals(value)
    assert "3 items: 3 done" in out


def test_a_column_wins_over_a_pandas_attribute_of_the_same_name(ip, glm_server, capsys):
    ip.user_ns["r_orders"] = pd.DataFrame({"product": ["tea", "jam"], "name": ["Ann", "Bo"]})
    value, _, err = cell(ip, capsys, "%%glm --each r_orders\n{row.name} buys {row.product}")
    assert err == ""
    assert value.tolist() == [
        "You said: Ann buys tea (1 messages received)",
        "You said: Bo buys jam (1 messages received)",
    ]


def test_a_method_in_a_placeholder_is_refused_by_name(ip, glm_server, capsys):
    ip.user_ns["r_sales"] = pd.DataFrame({"price": [1.5, 2.0]})
    _, _, err = cell(ip, capsys, "%%glm --each r_sales\nIs {row.product} a lot?")
    assert err.startswith("UsageError:") and "Traceback" not in err
    assert "{row.product} is the method Series.prod" in err
    assert "{row['product']}" in err
    assert glm_server.requests == []


def test_each_item_of_a_series_and_of_a_list(ip, glm_server, capsys, cities):
    value, _, _ = cell(ip, capsys, "%%glm --each r_cities.city\n{index}: {item}")
    assert list(value.index) == ["c", "a", "b"]
    assert value["b"] == "You said: b: Lima (1 messages received)"
    run(ip, "r_words = ['sun', 'rain']")
    value, _, _ = cell(ip, capsys, "%%glm --each r_words\nRhyme with {item}")
    assert value == [f"You said: Rhyme with {w} (1 messages received)" for w in ("sun", "rain")]


def test_json_gives_a_dataframe_of_the_fields(ip, glm_server, capsys, cities):
    value, _, _ = cell(
        ip, capsys, "%%glm -m glm-4.7 --each r_cities --json\nDescribe {row.city} in JSON."
    )
    assert isinstance(value, pd.DataFrame)
    assert list(value.index) == ["c", "a", "b"]
    assert list(value.columns) == ["echo", "messages"]
    assert value.loc["c", "echo"] == "Describe Lyon in JSON."
    assert glm_server.requests[0].body["response_format"] == {"type": "json_object"}


def test_dry_run_counts_without_sending_or_needing_a_key(
    ip, glm_server, capsys, cities, monkeypatch
):
    monkeypatch.delenv("GLM_MAGIC_API_KEY")
    value, out, err = cell(ip, capsys, "%%glm --each r_cities --dry-run\nWhere is {row.city}?")
    assert value is None and err == ""
    assert "3 calls to glm-5" in out
    assert "Input: about" in out and "cost unknown" in out and "free" not in out
    assert "--dry-run --sample 3" in out
    assert glm_server.requests == []


def test_max_calls_refuses_a_larger_batch_before_sending_anything(ip, glm_server):
    prompts = [f"Tag review {i}" for i in range(5)]
    with pytest.raises(glm_magic.GLMUsageError) as refused:
        glm_magic.map(prompts, max_calls=3, max_tokens=100, thinking=False)
    message = str(refused.value)
    assert "5 calls to glm-5, more than --max-calls 3; nothing was sent" in message
    assert "input tokens and up to 500 output tokens" in message and "cost unknown" in message
    assert "--max-calls 5" in message
    assert glm_server.requests == []


def test_the_default_cap_is_1000_calls_and_config_changes_it(ip, glm_server):
    with pytest.raises(glm_magic.GLMUsageError, match="1,001 calls .* --max-calls 1,000"):
        glm_magic.map(["hi"] * 1001)
    magics = ip.magics_manager.registry["GLMMagics"]
    magics.max_calls = 2
    try:
        with pytest.raises(glm_magic.GLMUsageError, match="more than --max-calls 2;"):
            glm_magic.map(["a", "b", "c"])
        assert len(glm_magic.map(["a", "b", "c"], max_calls=3)) == 3
    finally:
        magics.max_calls = 1000
    assert len(glm_server.requests) == 3


def test_a_dry_run_sample_sends_exactly_k_items_and_extrapolates(ip, glm_server):
    prompts = [f"Classify ticket {i}: the printer is on fire." for i in range(40)]
    plan = glm_magic.map(prompts, dry_run=True, sample=3, concurrency=4, rpm=600)
    assert len(glm_server.requests) == 3
    sent = [r.body["messages"][-1]["content"] for r in glm_server.requests]
    assert sorted(sent) == [prompts[0], prompts[13], prompts[26]], "spread over the batch"
    text = str(plan)
    assert "sent 3 sample items of 40 to glm-5 (3 succeeded)" in text
    source, low, high = plan.tokens()
    per_call = {r.usage.completion_tokens for r in plan.sample}
    assert (low, high) == (40 * min(per_call), 40 * max(per_call))
    output = f"{low:,}" if low == high else f"{low:,} to {high:,}"
    assert f"Output: {output} tokens" in text and "cost unknown" in text
    assert "at 600 RPM" in text and "bound by 600 RPM" in text, "40 calls at 10 a second"
    glm_server.reset()
    assert "nothing sent" in str(glm_magic.map(prompts, dry_run=True))
    assert glm_server.requests == []


def test_dry_runs_and_the_cap_give_the_cost_where_a_price_is_known(ip, glm_server):
    magics = ip.magics_manager.registry["GLMMagics"]
    magics.prices = {"glm-5": {"input": 2.0, "output": 8.0, "currency": "CNY"}}
    try:
        prompts = ["x" * 2_988] * 100  # 1,000 tokens each by the estimate (with the role)
        plan = glm_magic.map(prompts, dry_run=True, thinking=False, max_tokens=500)
        assert "Total: 100,000 to 150,000 tokens; ¥0.2000 to ¥0.6000." in str(plan)
        with pytest.raises(glm_magic.GLMUsageError, match="; ¥0.2000 to ¥0.6000. To run it"):
            glm_magic.map(prompts, max_calls=10, thinking=False, max_tokens=500)
        batch = glm_magic.map(["a", "b"], thinking=False)
        assert batch.cost.currency == "CNY" and f"out tokens · {batch.cost} · " in batch.summary()
    finally:
        magics.prices = {}
    assert "cost unknown" in str(glm_magic.map(prompts, dry_run=True, thinking=False))
    assert len(glm_server.requests) == 2, "only the two items of the real batch were sent"


def test_the_cell_options_cap_sample_and_pace_a_batch(ip, glm_server, capsys):
    run(ip, "r_words = ['one', 'two', 'three', 'four', 'five']")
    _, _, err = cell(ip, capsys, "%%glm --each r_words --max-calls 4\nSay {item}")
    assert err.startswith("UsageError: This batch is 5 calls") and "--max-calls 4" in err
    _, _, err = cell(ip, capsys, "%%glm --each r_words --sample 2\nSay {item}")
    assert "add --dry-run" in err
    assert glm_server.requests == []
    value, out, _ = cell(ip, capsys, "%%glm --each r_words --dry-run --sample\nSay {item}")
    assert value is None and len(glm_server.requests) == 3 and "sent 3 sample items of 5" in out
    glm_server.reset()
    _, out, _ = cell(ip, capsys, "%%glm --each r_words --rpm 600 -o r_job\nSay {item}")
    assert len(glm_server.requests) == 5 and "Paced under 600 RPM." in out


def test_every_failure_counts_when_index_labels_repeat(ip, glm_server, capsys):
    ip.user_ns["r_dupes"] = pd.Series(["a", "b", "c"], index=[0, 0, 0])
    glm_server.queue(Fault("data_inspection_failed"), Reply(answer="fine"))
    glm_server.queue(Fault("data_inspection_failed"))
    cell(ip, capsys, "%%glm --each r_dupes -j 1 -o r_job\nSay {item}")
    job = ip.user_ns["r_job"]
    assert [(label, r.prompt) for label, r in job.failed] == [(0, "Say a"), (0, "Say c")]
    assert job.failure_groups()[0][:2] == ("data_inspection_failed", 2)
    assert "2 × data_inspection_failed" in job.summary()


def test_text_progress_line_and_show_streams_the_first_item(ip, glm_server, capsys):
    run(ip, "r_words = ['one', 'two', 'three']")
    _, out, _ = cell(ip, capsys, "%%glm --each r_words --show 1\nSay {item}")
    assert out.count("Answer:") == 1 and "You said: Say one" in out
    assert "\r" in out and "3/3 · 3 done" in out
    assert "\nglm-5 · 3 items: 3 done" in out, "the summary follows the last progress line"


def test_mistakes_are_one_paragraph_and_send_nothing(ip, glm_server, capsys):
    run(ip, "r_map = {'a': 1}")
    for source, expected in [
        ("%%glm --each r_map\n{item}", "needs a list"),
        ("%%glm --each r_missing\n{item}", "NameError"),
        ("%%glm --each r_map.keys() -j 1\n{item}", "needs a list"),
        ("%%glm --show 2\nhi", "only apply to a batch"),
        ("%%glm --resume r_map\nhi", "not a batch result"),
        ("%%glm --each [1] -c talk\n{item}", "cannot be combined"),
        ("%%glm --each list(r_map) --raw\n{item}", "the same prompt for every item"),
    ]:
        _, _, err = cell(ip, capsys, source)
        assert err.startswith("UsageError:") and expected in err, (source, err)
        assert "Traceback" not in err
    assert glm_server.requests == []


# -- interrupt and resume -------------------------------------------------------------


def test_resume_refuses_the_options_it_would_not_use(ip, glm_server, capsys):
    ip.user_ns["r_job"] = glm_magic.map(["one"])
    glm_server.reset()
    for source, ignored in [
        ("%glm --resume r_job -m glm-4.5 --json -t 0.2", "-m, -t, --json"),
        ("%%glm --each r_words --no-thinking --resume r_job -j 2\n{item}", "--no-thinking, --each"),
    ]:
        _, _, err = cell(ip, capsys, source)
        assert err.startswith("UsageError: --resume NAME runs the unfinished items"), err
        assert "takes only -o, --quiet, -j, --dry-run, --show" in err
        assert f"remove {ignored}." in err
    value, out, err = cell(ip, capsys, "%glm --resume r_job -j 2 --quiet --dry-run")
    assert value is None and err == "" and "0 calls" in out
    assert glm_server.requests == []


def test_interrupt_keeps_what_finished_then_resume_runs_only_the_rest(ip, glm_server, capsys):
    glm_magic.map(["warm up"])  # the first batch imports openai
    glm_server.reset()
    run(ip, "r_items = [f'item {i}' for i in range(12)]")
    fast = [Reply(answer="quick") for _ in range(4)]
    slow = [Reply(answer="slow " * 40, chunk_chars=5, delay=0.05) for _ in range(8)]
    glm_server.queue(*fast, *slow)
    started = time.monotonic()
    with interrupt_after(0.6):
        _, out, err = cell(ip, capsys, "%%glm --each r_items -j 4 -o r_job --quiet\n{item}")
    assert time.monotonic() - started < 3, "the slow streams were cut, not waited for"
    assert "Traceback" not in err
    assert "KeyboardInterrupt: Stopped; the partial result is kept in r_job (and _glm)." in out
    job = ip.user_ns["r_job"]
    assert "`%glm --resume r_job` runs" in job.summary()
    counts = job.counts()
    assert counts["done"] >= 4 and counts["interrupted"] >= 4
    assert counts["done"] + counts["interrupted"] == 12
    cut = [r for r in job if r.finish_reason == "interrupted"]
    assert all(not r.complete and r.error for r in cut)
    assert any(r.answer.startswith("slow slow") for r in cut), "partial text is kept"
    assert glm_server.wait_for_disconnect(timeout=2), "open streams were closed"
    done_before = [r for r in job if r.complete]

    glm_server.reset()
    pending = job.pending
    value, _, _ = cell(ip, capsys, "%glm --resume r_job --quiet")
    assert len(glm_server.requests) == len(pending)
    assert sorted(r.body["messages"][-1]["content"] for r in glm_server.requests) == sorted(
        f"item {i}" for i in pending
    )
    assert ip.user_ns["r_job"] is job and ip.user_ns["_glm"] is job
    assert job.counts()["done"] == 12
    assert all(r in job for r in done_before), "finished items were not run again"
    assert value[pending[0]] == f"You said: item {pending[0]} (1 messages received)"


# -- in a real kernel: one progress widget, replaced by a static summary -----------------


def test_in_a_kernel_progress_is_one_widget_that_ends_as_markdown(glm_server_session):
    env = {
        "GLM_MAGIC_BASE_URL": glm_server_session.base_url,
        "GLM_MAGIC_API_KEY": glm_server_session.api_key,
    }
    glm_server_session.reset()
    glm_server_session.default_latency = 0.1
    try:
        with KernelSession(env) as kernel:
            assert kernel.execute("%load_ext glm_magic").ok
            cell_run = kernel.execute("%%glm --each list(range(12)) -j 4\nCount {item}")
    finally:
        glm_server_session.reset()
    assert cell_run.ok
    models = [m.content["data"]["state"]["_model_name"] for m in cell_run.of("comm_open")]
    assert models.count("HTMLModel") == 1, models
    assert not {"OutputModel", "VBoxModel"} & set(models), "no per-item widgets"
    updates = [m for m in cell_run.of("comm_msg") if "value" in m.content["data"].get("state", {})]
    assert updates and "<progress" in updates[-1].content["data"]["state"]["value"]
    final = cell_run.of("update_display_data")[-1].content["data"]
    assert "12 items: 12 done" in final["text/markdown"]
    assert final["text/plain"].startswith("glm-5 · 12 items: 12 done")
    assert len(cell_run.of("comm_close")) == len(cell_run.of("comm_open"))
    result = cell_run.of("execute_result")[-1].content["data"]["text/plain"]
    assert "You said: Count 11" in result


def test_stopping_a_batch_during_a_retry_wait_sends_nothing_more(glm_env):
    glm_env.queue(Fault("rate_limit", retry_after=1.5))
    main = threading.main_thread().ident

    def interrupt_once_refused() -> None:
        deadline = time.monotonic() + 10
        while not glm_env.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt_once_refused, daemon=True).start()
    with pytest.raises(glm_magic.GLMInterrupted) as stopped:
        glm_magic.map(["only item"], concurrency=1)
    results = stopped.value.result
    assert results[0].finish_reason == "interrupted"
    assert "`glm_magic.resume(batch)` runs 1 unfinished item again." in results.summary()
    time.sleep(1.6)
    assert len(glm_env.requests) == 1, "the worker woke up and sent the request again"


def test_a_dry_run_gives_the_time_the_pacer_keeps_not_the_longest_replies(ip, glm_server):
    plan = glm_magic.map(["q"] * 6, tpm=600, max_tokens=50, dry_run=True)
    # The pacer charges each call its prompt (5 tokens) plus 1,000 output tokens
    # until replies are measured: 6 x 1,005 at 600 a minute is 10 min 03 s.
    assert plan.paced_output_per_call == 1_000
    text = str(plan)
    assert "at most 32,818 per call, paced at about 1,000 until replies are measured" in text
    assert "Time: at least 10 min 03 s at 600 TPM" in text

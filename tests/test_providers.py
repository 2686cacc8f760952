"""Every provider dialect, end to end: the request it gets and the stream it sends back.

Each test runs against ``glm_magic.testing.FakeProvider`` playing one
provider (its paths, its own thinking switch only, its reasoning field, its
error bodies, its ``GET /models``), through ``%%glm`` and through
``glm_magic.complete``, with the real openai SDK in between.
"""

from __future__ import annotations

import pytest
from conftest import run

import glm_magic
from glm_magic import providers, structured
from glm_magic.errors import GLMUsageError
from glm_magic.settings import resolve
from glm_magic.testing import DIALECTS

NAMES = sorted(DIALECTS)

#: The thinking switch each provider reads, as its documentation writes it.
SWITCH = {
    "dashscope": lambda on: {"enable_thinking": on},
    "zhipu": lambda on: {"thinking": {"type": "enabled" if on else "disabled"}},
    "zai": lambda on: {"thinking": {"type": "enabled" if on else "disabled"}},
    "openrouter": lambda on: {"reasoning": {"enabled": on}},
    "vllm": lambda on: {"chat_template_kwargs": {"enable_thinking": on}},
}
SWITCH_KEYS = {"enable_thinking", "thinking", "reasoning", "chat_template_kwargs"}
DEFAULT_MODEL = {
    "dashscope": "glm-5",
    "zhipu": "glm-5.1",
    "zai": "glm-5.1",
    "openrouter": "z-ai/glm-5.1",
    "vllm": "zai-org/GLM-4.5-Air",  # the first model the fake vLLM lists
}
#: The error code each provider gives for a model it does not serve.
UNKNOWN_MODEL_CODE = {
    "dashscope": "model_not_found",
    "zhipu": "1211",
    "zai": "1211",
    "openrouter": "400",
    "vllm": "NotFoundError",
}


def chat_body(server) -> dict:
    return [r for r in server.requests if r.path.endswith("/chat/completions")][-1].body


def assert_switch(body: dict, name: str, on: bool | None) -> None:
    """The provider's own switch was sent (or none, for None), and no other provider's."""
    expected = SWITCH[name](on) if on is not None else {}
    for key, value in expected.items():
        assert body[key] == value
    assert not (SWITCH_KEYS - expected.keys()) & body.keys(), body


# -- choosing a provider -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://dashscope-us.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://ws-42.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://open.bigmodel.cn/api/paas/v4", "zhipu"),
        ("https://api.z.ai/api/paas/v4", "zai"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("http://127.0.0.1:8000/v1", "dashscope"),
    ],
)
def test_the_base_urls_host_names_the_provider(url, name, monkeypatch):
    monkeypatch.delenv("GLM_MAGIC_PROVIDER", raising=False)
    settings = resolve(base_url=url)
    assert settings.provider.name == name
    assert settings.base_url == url


def test_the_provider_comes_from_the_option_then_config_then_environment(monkeypatch):
    monkeypatch.delenv("GLM_MAGIC_BASE_URL", raising=False)
    monkeypatch.delenv("GLM_MAGIC_MODEL", raising=False)
    monkeypatch.setenv("GLM_MAGIC_PROVIDER", "zai")
    assert resolve().provider.name == "zai"
    assert resolve(config={"provider": "openrouter"}).provider.name == "openrouter"
    assert resolve(provider="zhipu", config={"provider": "openrouter"}).provider.name == "zhipu"
    zhipu = resolve(provider="zhipu")
    assert (zhipu.base_url, zhipu.model) == ("https://open.bigmodel.cn/api/paas/v4", "glm-5.1")
    monkeypatch.delenv("GLM_MAGIC_PROVIDER")
    default = resolve()
    assert (default.provider.name, default.model) == ("dashscope", "glm-5")
    assert default.base_url == "https://dashscope.aliyuncs.com/compatible-mode/v1"


def test_a_named_provider_wins_over_the_urls_host(monkeypatch):
    monkeypatch.delenv("GLM_MAGIC_PROVIDER", raising=False)
    settings = resolve(provider="vllm", base_url="https://open.bigmodel.cn/api/paas/v4")
    assert settings.provider.name == "vllm"


def test_an_unknown_provider_is_refused_with_the_list(monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_PROVIDER", "zhipuai")
    with pytest.raises(GLMUsageError, match="GLM_MAGIC_PROVIDER 'zhipuai' is not a provider"):
        resolve()
    with pytest.raises(GLMUsageError, match="dashscope, openrouter, vllm, zai, zhipu"):
        resolve()


def test_each_provider_reads_its_own_key_variable(monkeypatch):
    for name in ("GLM_MAGIC_API_KEY", "DASHSCOPE_API_KEY", "ZHIPUAI_API_KEY", "VLLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZHIPUAI_API_KEY", "zk-1234567890")
    assert resolve(provider="zhipu").api_key() == "zk-1234567890"
    with pytest.raises(GLMUsageError, match="GLM_MAGIC_API_KEY or DASHSCOPE_API_KEY"):
        resolve(provider="dashscope").api_key()
    assert resolve(provider="vllm").api_key() == "EMPTY", "a vLLM server needs no key"
    monkeypatch.setenv("GLM_MAGIC_API_KEY", "sk-first")
    assert resolve(provider="zhipu").api_key() == "sk-first"


def test_adding_a_provider_is_one_module():
    assert [p.name for p in providers.all_providers()] == [
        "dashscope",
        "openrouter",
        "vllm",
        "zai",
        "zhipu",
    ]
    for provider in providers.all_providers():
        assert provider.sources, f"{provider.name} cites where its wire facts come from"


# -- the request each provider gets, and the stream it sends ---------------------


@pytest.mark.parametrize("glm_provider", NAMES, indirect=True)
@pytest.mark.parametrize(("flag", "on"), [("--thinking", True), ("--no-thinking", False)])
def test_a_cell_sends_the_providers_own_thinking_switch(on_provider, ip, capsys, flag, on):
    name = on_provider.dialect.name
    run(ip, f"%%glm {flag}\nWhat is 2 + 2?")
    out = capsys.readouterr().out
    body = chat_body(on_provider)
    assert body["model"] == DEFAULT_MODEL[name]
    assert_switch(body, name, on)
    result = ip.user_ns["_glm"]
    assert result.complete and result.provider == name
    assert result.answer.startswith("You said: What is 2 + 2?")
    assert bool(result.thinking) is on, "the fake honours the switch it was sent"
    assert ("Thinking:" in out) is on
    assert out.count("Answer:") == 1


@pytest.mark.parametrize("glm_provider", NAMES, indirect=True)
def test_nothing_is_sent_for_thinking_unless_asked(on_provider, ip, capsys):
    name = on_provider.dialect.name
    run(ip, "%%glm\nhi")
    out = capsys.readouterr().out
    # DashScope documents no default for GLM, so a known model gets its own (thinking on).
    assert_switch(chat_body(on_provider), name, True if name == "dashscope" else None)
    assert out.index("Thinking:") < out.index("Answer:")
    assert ip.user_ns["_glm"].thinking


@pytest.mark.parametrize("glm_provider", NAMES, indirect=True)
@pytest.mark.parametrize("thinking", [True, False])
def test_complete_speaks_each_dialect(on_provider, ip, thinking):
    name = on_provider.dialect.name
    result = glm_magic.complete("Name a colour.", thinking=thinking, top_k=5)
    body = chat_body(on_provider)
    assert_switch(body, name, thinking)
    assert body["top_k"] == 5
    assert result.complete and result.provider == name
    assert result.model == DEFAULT_MODEL[name]
    assert bool(result.thinking) is thinking
    assert result.answer == "You said: Name a colour. (1 messages received)"


@pytest.mark.parametrize("glm_provider", ["zhipu"], indirect=True)
def test_a_zhipu_server_ignores_dashscopes_switch(glm_provider, ip, monkeypatch):
    """The bug that started it: --no-thinking sent as enable_thinking to Zhipu did nothing."""
    monkeypatch.setenv("GLM_MAGIC_BASE_URL", glm_provider.base_url)
    monkeypatch.setenv("GLM_MAGIC_PROVIDER", "dashscope")
    result = glm_magic.complete("hi", thinking=False)
    assert chat_body(glm_provider)["enable_thinking"] is False
    assert result.thinking, "Zhipu thinks on: it reads only thinking.type"


@pytest.mark.parametrize("glm_provider", ["dashscope", "zhipu"], indirect=True)
def test_json_mode_turns_thinking_off_only_where_the_provider_refuses_both(
    on_provider, ip, capsys, monkeypatch
):
    monkeypatch.setattr(structured, "_NOTED", set())  # the note is said once a session
    name = on_provider.dialect.name
    model = "-m glm-4.7 " if name == "dashscope" else ""
    run(ip, f"%%glm {model}--json\nGive me a JSON object.")
    out = capsys.readouterr().out
    result = ip.user_ns["_glm"]
    assert result.complete and result.data
    if name == "dashscope":
        assert_switch(chat_body(on_provider), name, False)
        assert "JSON mode: thinking is off" in out
    else:
        assert_switch(chat_body(on_provider), name, None)
        assert "JSON mode" not in out


@pytest.mark.parametrize("glm_provider", ["zai", "vllm"], indirect=True)
def test_a_newline_before_the_thinking_opens_no_empty_answer(on_provider, ip, capsys):
    """These servers send an answer piece "\\n" before thinking (see providers/zai.py)."""
    run(ip, "%%glm\nhi")
    out = capsys.readouterr().out
    assert out.count("Answer:") == 1
    assert out.index("Thinking:") < out.index("Answer:")
    assert not ip.user_ns["_glm"].answer.startswith("\n")


# -- errors and models, in each dialect ---------------------------------------------


@pytest.mark.parametrize("glm_provider", NAMES, indirect=True)
def test_an_unknown_model_names_the_providers_glm_models(on_provider, ip, capsys):
    name = on_provider.dialect.name
    run(ip, "%%glm -m glm-9\nhi")
    out = capsys.readouterr().out
    result = ip.user_ns["_glm"]
    assert result.finish_reason == "error"
    assert result.error_code == UNKNOWN_MODEL_CODE[name]
    assert f"'glm-9' is not served by {name}; GLM models it lists: " in result.error
    assert DEFAULT_MODEL[name] in result.error
    assert "qwen" not in result.error, "only the GLM models are listed"
    assert "%config GLMMagics.model" in result.error and "GLM_MAGIC_MODEL" in result.error
    assert result.error in out


@pytest.mark.parametrize("glm_provider", NAMES, indirect=True)
def test_a_wrong_key_gives_the_providers_message(on_provider, ip, monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_API_KEY", "sk-wrong-key-0000")
    result = glm_magic.complete("hi", model=DEFAULT_MODEL[on_provider.dialect.name])
    assert result.finish_reason == "error"
    assert "HTTP 401" in result.error
    assert len(result.error) > len("HTTP 401 "), "the provider's message is shown"


@pytest.mark.parametrize("glm_provider", ["zhipu"], indirect=True)
def test_models_merges_the_catalogue_with_the_providers_list(on_provider, ip, capsys):
    on_provider.models = frozenset({"glm-5.1", "glm-5", "glm-6-preview", "embedding-3"})
    run(ip, "%glm models")
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("glm-")}
    assert "NOT LISTED" not in lines["glm-5.1"]
    assert "NOT LISTED by the provider now" in lines["glm-4.6"]
    assert "not catalogued" in lines["glm-6-preview"], "unknown GLM ids pass through"
    assert "embedding-3" not in out
    assert "https://docs.bigmodel.cn/cn/guide/models/text/glm-5.1" in out


def test_models_without_an_answer_shows_the_catalogue(ip, capsys, monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_BASE_URL", "http://127.0.0.1:9/compatible-mode/v1")
    run(ip, "%glm models")
    out = capsys.readouterr().out
    assert "the catalogue alone (GET /models did not answer)" in out
    assert "glm-5 " in out and "169,984" in out


def test_providers_lists_url_key_variable_and_switch(ip, capsys, monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", "zk-set")
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setenv("GLM_MAGIC_PROVIDER", "zai")
    run(ip, "%glm providers")
    out = capsys.readouterr().out
    zai = next(line for line in out.splitlines() if " zai " in f" {line} ")
    assert zai.startswith("* zai")
    assert "https://api.z.ai/api/paas/v4" in zai and "ZAI_API_KEY" in zai and " set " in zai
    assert 'thinking: {"type": "enabled"/"disabled"}' in zai
    openrouter = next(line for line in out.splitlines() if "openrouter.ai" in line)
    assert "OPENROUTER_API_KEY" in openrouter and "not set" in openrouter
    assert "(optional)" in next(line for line in out.splitlines() if "VLLM_API_KEY" in line)

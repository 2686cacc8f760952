"""The one option spec: the cell's arguments, the API's checks, %config and the README agree."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from conftest import run
from IPython.core.error import UsageError

import glm_magic
from glm_magic import options as spec
from glm_magic.errors import GLMUsageError
from glm_magic.magics import GLMMagics
from glm_magic.options import Options

README = Path(__file__).resolve().parent.parent / "README.md"
SAMPLE = {"text": "x", "number": 0.5, "whole": 3, "texts": "x", "name": "x", "names": "f"}


def cell(ip, capsys, source):
    result = run(ip, source)
    out, err = capsys.readouterr()
    return result, out, err


def test_every_option_of_the_spec_is_an_argument_of_the_cell_under_its_name():
    parser = GLMMagics.glm_cell.parser
    for option in spec.SPEC:
        if option.kind == "switch":
            on, off = option.flags
            assert parser.parse_args([on]).__dict__[option.name] is True
            assert parser.parse_args([off]).__dict__[option.name] is False
            continue
        words = [option.flags[-1]]
        if option.takes_value:
            words.append(option.choices[0] if option.choices else str(SAMPLE[option.kind]))
        args = vars(parser.parse_args(words))
        assert args[option.name] not in (None, False), option.name
        assert [o.name for o in spec.given(parser.parse_args(words))] == [option.name]


def test_a_new_option_is_one_entry(monkeypatch):
    from IPython.core.magic_arguments import magic_arguments

    from glm_magic.parsing import is_batch, with_options

    entry = spec.Option(
        "rpm_test",
        ("--rpm-test",),
        "whole",
        "batch",
        "Batch: at most N requests a minute.",
        metavar="N",
        low=spec.Bound(1),
        batch_only=True,
        api=False,
    )
    monkeypatch.setattr(spec, "SPEC", (*spec.SPEC, entry))
    monkeypatch.setitem(spec.BY_NAME, entry.name, entry)

    @magic_arguments(name="%glm")
    @with_options()
    def cell_magic(line, cell):
        """A cell magic made the way GLMMagics makes %%glm."""

    parser = cell_magic.parser
    assert parser.parse_args(["--rpm-test", "60"]).rpm_test == 60
    assert "--rpm-test N" in cell_magic.__doc__ and "N: at least 1." in cell_magic.__doc__
    assert "| `--rpm-test N` | Batch: at most N requests a minute. N: at least 1." in (
        spec.readme_table()
    )
    with pytest.raises(GLMUsageError, match="--rpm-test must be at least 1; got 0"):
        spec.check_ranges({"rpm_test": 0})
    with pytest.raises(UsageError, match="--rpm-test only apply to a batch"):
        is_batch(parser.parse_args(["--rpm-test", "60"]))
    with pytest.raises(TypeError, match="unknown options: rpm_test"):
        spec.from_api({"rpm_test": 60}, "complete")  # api=False: the cell's only


def test_the_request_options_are_the_options_the_spec_sends():
    sent = [o.name for o in spec.SPEC if o.place in ("body", "extra", "request")]
    assert [f.name for f in fields(Options)] == sent
    assert "repetition_penalty" in sent and "provider" not in sent


def test_body_and_extra_options_reach_the_request_as_the_spec_places_them(ip, glm_server, capsys):
    cell(ip, capsys, "%%glm --repetition-penalty 1.1 --top-k 4 -t 0.3 --quiet\nhi")
    body = glm_server.requests[-1].body
    assert (body["temperature"], body["top_k"], body["repetition_penalty"]) == (0.3, 4, 1.1)


def test_a_provider_is_checked_against_the_choices_and_passed_on_to_the_settings(ip, capsys):
    magics = ip.magics_manager.registry["GLMMagics"]
    args = GLMMagics.glm_cell.parser.parse_args(["--provider", "zhipu"])
    assert magics.settings(args).provider.name == "zhipu"
    _, _, err = cell(ip, capsys, "%%glm --provider zhipoo\nhi")
    assert "--provider must be one of dashscope, zhipu, zai, openrouter, vllm" in err
    with pytest.raises(GLMUsageError, match="--provider must be one of"):
        glm_magic.complete("hi", provider="nowhere")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%%glm --temprature 0.5\nhi", "Did you mean --temperature?"),
        ("%%glm --no-thinkng\nhi", "Did you mean --no-thinking?"),
        ("%%glm --max-tokes 10\nhi", "Did you mean --max-tokens?"),
        ("%glm --sytem terse hi", "Did you mean --system?"),
    ],
)
def test_a_mistyped_option_suggests_the_closest_one(ip, glm_server, capsys, source, expected):
    _, _, err = cell(ip, capsys, source)
    assert err.startswith("UsageError:") and expected in err
    assert "`%%glm?` lists the options" in err and "Traceback" not in err
    assert glm_server.requests == []


def test_out_of_range_cell_values_are_refused_by_the_spec_before_sending(ip, glm_server, capsys):
    for source, expected in [
        ("%%glm -t 2\nhi", "--temperature must be at least 0 and below 2; got 2.0."),
        ("%%glm -c talk --last -1\nhi", "--last must be 0 or more; got -1."),
        ("%%glm --each [1] --show -1\n{item}", "--show must be 0 or more; got -1."),
        ("%%glm --each [1] -j 0\n{item}", "--jobs must be at least 1; got 0."),
    ]:
        _, _, err = cell(ip, capsys, source)
        assert expected in err, (source, err)
    assert glm_server.requests == []


def test_the_api_refuses_unknown_names_with_a_suggestion_and_takes_one_stop_text():
    options, connection = spec.from_api({"stop": "END", "seed": 1, "provider": "zai"}, "complete")
    assert options == Options(stop=["END"], seed=1)
    assert connection == {"provider": "zai"}
    with pytest.raises(TypeError, match=r"map\(\) got unknown options: temprature\. Did you mean"):
        spec.from_api({"temprature": 0.2}, "map")
    with pytest.raises(GLMUsageError, match="Did you mean temperature"):
        glm_magic.complete("hi", temprature=0.2)
    with pytest.raises(TypeError, match="got unknown options: each"):
        glm_magic.complete("hi", each=[1, 2])  # cell only


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": "hot"}, "option temperature must be a number"),
        ({"top_k": 2.5}, "option top_k must be a whole number"),
        ({"thinking": "no"}, "option thinking must be True or False"),
        ({"stop": [1]}, "option stop must be text or a list of text"),
        ({"temperature": 3}, "--temperature must be at least 0 and below 2"),
        ({"repetition_penalty": 0}, "--repetition-penalty must be above 0"),
    ],
)
def test_the_api_checks_types_and_ranges_from_the_spec(kwargs, message):
    with pytest.raises(GLMUsageError, match=message):
        glm_magic.complete("hi", **kwargs)


def test_config_refuses_a_setting_out_of_its_range_and_keeps_the_old_value(ip, capsys, caplog):
    magics = ip.magics_manager.registry["GLMMagics"]
    before = magics.timeout
    cell(ip, capsys, "%config GLMMagics.timeout = -5")  # %config logs what it refuses
    assert "GLMMagics.timeout must be above 0; got -5" in caplog.text
    assert magics.timeout == before
    cell(ip, capsys, "%config GLMMagics.value_budget = 10")
    assert "GLMMagics.value_budget must be at least 200" in caplog.text
    cell(ip, capsys, "%config GLMMagics.display = 'fancy'")
    assert magics.display == "auto" and "fancy" in caplog.text
    cell(ip, capsys, "%config GLMMagics.timeout = 30")
    assert magics.timeout == 30
    # IPython keeps a refused value in the shell's config, where a later %reload_ext
    # would meet it: put valid ones back.
    for setting in ("timeout", "value_budget", "display"):
        value = {"timeout": before}.get(setting, getattr(magics, setting))
        cell(ip, capsys, f"%config GLMMagics.{setting} = {value!r}")


def test_every_setting_is_a_config_trait_with_the_specs_default_and_help():
    traits = GLMMagics.class_traits(config=True)
    for setting in spec.SETTINGS:
        assert traits[setting.name].default() == setting.default
        assert traits[setting.name].help == setting.help


def test_the_readme_option_table_is_the_one_the_spec_makes():
    readme = README.read_text(encoding="utf-8")
    assert spec.with_readme_table(readme) == readme, (
        "README.md's option table drifted from glm_magic/options.py; "
        "run `python -m glm_magic.options README.md`"
    )


def test_ranges_read_as_words():
    b = spec.Bound
    assert spec.describe_range(b(0), b(2, open=True)) == "at least 0 and below 2"
    assert spec.describe_range(b(0, open=True), b(1)) == "above 0 and at most 1"
    assert spec.describe_range(b(0), None) == "0 or more"
    assert spec.describe_range(b(200), None) == "at least 200"

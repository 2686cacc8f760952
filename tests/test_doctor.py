"""``%glm doctor`` in a notebook, and what only the checks themselves can show: a key
from another region, a model the endpoint does not list, the widget front end."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import run

from glm_magic.doctor import diagnose
from glm_magic.settings import resolve
from glm_magic.testing import FakeDashScope


def test_glm_doctor_in_a_notebook_prints_the_checks(ip, glm_server, capsys):
    run(ip, "%glm doctor")
    out = capsys.readouterr().out
    assert "ok    API key " in out
    assert f"ok    endpoint  {glm_server.base_url}/models answers and takes the key" in out
    assert "widgets" in out
    assert out.rstrip().endswith("All good.")


def test_a_key_from_another_region_is_recognised_and_its_endpoint_named(monkeypatch):
    with (
        FakeDashScope(api_key="sk-beijing") as beijing,
        FakeDashScope(api_key="sk-singapore") as singapore,
    ):
        regions = {"China (Beijing)": beijing.base_url, "Singapore": singapore.base_url}
        monkeypatch.setenv("GLM_MAGIC_API_KEY", "sk-singapore")
        monkeypatch.setenv("GLM_MAGIC_BASE_URL", beijing.base_url)
        checks = {c.name: c for c in diagnose(resolve(), regions=regions)}
    endpoint = checks["endpoint"]
    assert endpoint.status == "fail"
    assert "refused the key: HTTP 401" in endpoint.detail
    assert endpoint.fix.startswith(
        f"This key is from the Singapore region, whose endpoint is {singapore.base_url}: "
        f"export GLM_MAGIC_BASE_URL={singapore.base_url}"
    )


def test_a_model_the_endpoint_does_not_list_is_a_warning(glm_server, monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_API_KEY", glm_server.api_key)
    monkeypatch.setenv("GLM_MAGIC_BASE_URL", glm_server.base_url)
    checks = {c.name: c for c in diagnose(resolve(model="glm-9-imaginary"))}
    assert checks["model"].status == "warn"
    assert "glm-9-imaginary is not listed there" in checks["model"].detail
    assert "%glm models" in checks["model"].fix


def test_the_widget_check_sees_jupyterlab_and_its_widget_extension_here(glm_env):
    if importlib.util.find_spec("jupyterlab") is None:
        pytest.skip("needs jupyterlab in this environment (the test extra)")
    (widgets,) = [c for c in diagnose(resolve()) if c.name == "widgets"]
    assert widgets.status == "ok"
    assert "jupyterlab_widgets 3." in widgets.detail and "JupyterLab 4." in widgets.detail

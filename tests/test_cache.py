"""``--cache``: an identical request that once completed is replayed from the store."""

from __future__ import annotations

from conftest import run

import glm_magic
from glm_magic.testing import Fault, Reply


def test_a_cache_hit_sends_nothing_and_says_cached(ip, glm_server, store_home, capsys):
    glm_server.queue(Reply(thinking="Hmm.", answer="Forty-two."))
    run(ip, "%%glm --cache -m glm-4.5 -t 0.3\nThe answer?")
    first = ip.user_ns["_glm"]
    sent = len(glm_server.requests)
    capsys.readouterr()
    run(ip, "%%glm --cache -m glm-4.5 -t 0.3\nThe answer?")
    again = ip.user_ns["_glm"]
    assert len(glm_server.requests) == sent
    assert (again.answer, again.thinking, again.cached) == ("Forty-two.", "Hmm.", True)
    assert first.cached is False
    out = capsys.readouterr().out
    assert "Forty-two." in out and "cached: nothing sent" in out


def test_any_difference_in_the_request_is_a_miss(ip, glm_server, store_home):
    run(ip, "%%glm --cache -m glm-4.5 -t 0.3\nThe answer?")
    sent = len(glm_server.requests)
    run(ip, "%%glm --cache -m glm-4.5 -t 0.4\nThe answer?")
    run(ip, "%%glm --cache -m glm-4.5 -t 0.3\nThe answer!")
    run(ip, "%%glm --cache -m glm-4.5-air -t 0.3\nThe answer?")
    assert len(glm_server.requests) == sent + 3


def test_incomplete_or_failed_results_are_never_replayed(ip, glm_server, store_home):
    glm_server.queue(Fault("drop", after_chunks=2), Fault("server_error"), Fault("server_error"))
    glm_server.queue(Fault("server_error"), Fault("server_error"))
    assert not run(ip, "%glm --cache -m glm-4.5 ask").result.complete
    assert run(ip, "%glm --cache -m glm-4.5 ask").result.error
    sent = len(glm_server.requests)
    result = run(ip, "%glm --cache -m glm-4.5 ask").result
    assert result.complete and not result.cached
    assert len(glm_server.requests) == sent + 1


def test_no_cache_sends_even_with_the_cache_configured_on(ip, glm_server, store_home):
    ip.magics_manager.registry["GLMMagics"].cache = True
    run(ip, "%glm -m glm-4.5 same")
    sent = len(glm_server.requests)
    assert run(ip, "%glm -m glm-4.5 same").result.cached
    assert not run(ip, "%glm --no-cache -m glm-4.5 same").result.cached
    assert len(glm_server.requests) == sent + 1


def test_the_python_api_takes_cache_too(ip, glm_server, store_home):
    glm_magic.complete("from python", model="glm-4.5", cache=True)
    sent = len(glm_server.requests)
    assert glm_magic.complete("from python", model="glm-4.5", cache=True).cached
    assert len(glm_server.requests) == sent


def test_cache_with_the_store_off_says_it_needs_the_store(ip, glm_server, capsys):
    ip.magics_manager.registry["GLMMagics"].log = False
    run(ip, "%glm --cache -m glm-4.5 hi")
    assert "which is off" in capsys.readouterr().err
    assert glm_server.requests == []

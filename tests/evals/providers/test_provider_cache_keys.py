"""Properties of the response-cache key and of Retry-After parsing."""

from __future__ import annotations

import email.utils
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from promptgov.evals.providers import cache_key, get_default_embedder
from promptgov.evals.providers._http import retry_after_seconds
from promptgov.evals.providers.cache import ResponseCache
from promptgov.evals.providers.interface import ProviderResponse, TokenUsage

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
configs = st.dictionaries(st.text(min_size=1, max_size=6), json_scalars, max_size=5)


@given(provider_id=st.text(max_size=20), config=configs, prompt=st.text(max_size=50))
def test_key_is_stable_and_ignores_config_order(provider_id, config, prompt) -> None:
    reordered = dict(reversed(list(config.items())))
    key = cache_key(provider_id, config, prompt)
    assert key == cache_key(provider_id, reordered, prompt)
    assert len(key) == 64 and int(key, 16) >= 0


@given(config=configs, a=st.text(max_size=30), b=st.text(max_size=30))
def test_key_changes_with_the_prompt(config, a, b) -> None:
    assert (cache_key("p", config, a) == cache_key("p", config, b)) == (a == b)


@given(url_a=st.text(max_size=10), url_b=st.text(max_size=10))
def test_key_changes_with_extra_material(url_a, url_b) -> None:
    same = cache_key("p", {}, "x", url=url_a) == cache_key("p", {}, "x", url=url_b)
    assert same == (url_a == url_b)


@given(seconds=st.integers(min_value=0, max_value=10_000))
def test_retry_after_delta_seconds(seconds: int) -> None:
    assert retry_after_seconds(str(seconds)) == float(seconds)


def test_retry_after_http_date_and_garbage() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(date, now=now) == 30.0
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_cache_round_trip_marks_cached_and_skips_errors(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    good = ProviderResponse(
        output={"a": [1, 2]},
        token_usage=TokenUsage(total=7, prompt=3, completion=4, num_requests=1),
        cost=0.5,
        finish_reason="stop",
    )
    cache.put("k" * 64, good)
    cache.put("e" * 64, ProviderResponse(output=None, error="boom"))
    hit = cache.get("k" * 64)
    assert hit is not None and hit.cached is True
    assert (hit.output, hit.cost, hit.finish_reason) == ({"a": [1, 2]}, 0.5, "stop")
    assert (hit.token_usage.total, hit.token_usage.cached, hit.token_usage.prompt) == (7, 7, 0)
    assert cache.get("e" * 64) is None
    (tmp_path / "zz").mkdir()
    (tmp_path / "zz" / ("z" * 64 + ".json")).write_text("{truncated")
    assert cache.get("z" * 64) is None  # a damaged entry is a miss, not a crash


def test_disabled_cache_never_writes(tmp_path: Path) -> None:
    cache = ResponseCache.from_env(
        {"PROMPTFOO_CACHE_PATH": str(tmp_path), "PROMPTFOO_CACHE_ENABLED": "false"}
    )
    cache.put("k" * 64, ProviderResponse(output="x"))
    assert list(tmp_path.iterdir()) == []


def test_default_embedder_needs_an_openai_endpoint() -> None:
    assert get_default_embedder({}) is None
    embedder = get_default_embedder({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert embedder is not None and embedder.id == "openai:text-embedding-3-large"

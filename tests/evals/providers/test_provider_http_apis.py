"""OpenAI, Anthropic, Ollama and generic HTTP providers against real stub servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from promptgov.evals.providers import load_provider
from promptgov.evals.providers.interface import (
    CallContext,
    Provider,
    ProviderError,
    ProviderResponse,
)
from tests.stub_servers import anthropic_stub, ollama_stub, openai_stub

#: Fast retries so failure paths take milliseconds; no cache unless a test asks for one.
FAST = {"PROMPTFOO_REQUEST_BACKOFF_MS": "1", "PROMPTFOO_CACHE_ENABLED": "false"}


def _call(provider: Provider, prompt: str = "hi there", **ctx: Any) -> ProviderResponse:
    async def run() -> ProviderResponse:
        try:
            return await provider.call(prompt, CallContext(**ctx))
        finally:
            await provider.aclose()

    return asyncio.run(run())


def _openai(stub, tmp_path: Path, model: str = "gpt-4o-mini", **env: str) -> Provider:
    return load_provider(
        f"openai:chat:{model}",
        base_dir=tmp_path,
        env={**FAST, "OPENAI_BASE_URL": stub.openai_url, "OPENAI_API_KEY": "sk-test", **env},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# OpenAI -------------------------------------------------------------------------------------


def test_openai_chat_plain_prompt_is_one_user_message(tmp_path: Path) -> None:
    with openai_stub() as stub:
        response = _call(_openai(stub, tmp_path), "hi there")
        request = stub.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["messages"] == [{"role": "user", "content": "hi there"}]
    assert response.output == "echo: hi there"
    assert response.finish_reason == "stop"
    # The stub counts words: 2 prompt tokens, 3 completion tokens ("echo: hi there").
    assert response.token_usage.to_dict() == {
        "total": 5,
        "prompt": 2,
        "completion": 3,
        "cached": 0,
        "numRequests": 1,
    }
    assert response.cost == pytest.approx(2 * 0.15e-6 + 3 * 0.6e-6)


def test_openai_chat_json_prompt_is_sent_as_messages(tmp_path: Path) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "why?"}]
    with openai_stub() as stub:
        response = _call(_openai(stub, tmp_path), json.dumps(messages, indent=2))
        body = stub.requests[0].body
    assert body["messages"] == messages
    assert response.output == "echo: why?"


def test_openai_invalid_chat_json_is_an_error(tmp_path: Path) -> None:
    with openai_stub() as stub, pytest.raises(ProviderError, match="not a valid JSON"):
        _call(_openai(stub, tmp_path), '[{"role": "user", "content": }]')
    assert stub.count == 0


def test_openai_unknown_model_has_no_cost_and_config_params_are_sent(tmp_path: Path) -> None:
    with openai_stub() as stub:
        provider = load_provider(
            {
                "id": "openai:chat:local-llama",
                "config": {"apiBaseUrl": stub.openai_url, "temperature": 0, "max_tokens": 12},
            },
            base_dir=tmp_path,
            env=FAST,
        )
        response = _call(provider)
        body = stub.requests[0].body
    assert (body["temperature"], body["max_tokens"]) == (0, 12)
    assert "Authorization" not in stub.requests[0].headers  # local servers need no key
    assert response.cost is None


def test_openai_base_url_precedence(tmp_path: Path) -> None:
    with openai_stub() as right, openai_stub() as wrong:
        env = {**FAST, "OPENAI_API_BASE_URL": right.openai_url, "OPENAI_BASE_URL": wrong.openai_url}
        _call(load_provider("openai:chat:m", base_dir=tmp_path, env=env))
        assert (right.count, wrong.count) == (1, 0)
        config = {"id": "openai:chat:m", "config": {"apiBaseUrl": wrong.openai_url}}
        _call(load_provider(config, base_dir=tmp_path, env=env))
        assert (right.count, wrong.count) == (1, 1)


def test_openai_public_api_without_key_is_a_clear_error(tmp_path: Path) -> None:
    provider = load_provider("openai:chat:gpt-4o-mini", base_dir=tmp_path, env=FAST)
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        _call(provider)


def test_openai_completion_and_embedding(tmp_path: Path) -> None:
    env = {**FAST, "OPENAI_API_KEY": "k"}
    with openai_stub() as stub:
        env["OPENAI_BASE_URL"] = stub.openai_url
        completion = _call(load_provider("openai:completion:m", base_dir=tmp_path, env=env), "a b")
        embedder = load_provider(
            "openai:embedding:text-embedding-3-small", base_dir=tmp_path, env=env
        )

        async def embed() -> tuple[list[float], list[float]]:
            try:
                return await embedder.embed("alpha"), await embedder.embed("beta")
            finally:
                await embedder.aclose()

        alpha, beta = asyncio.run(embed())
        paths = stub.paths()
    assert completion.output == "echo: a b"
    assert paths == ["/v1/completions", "/v1/embeddings", "/v1/embeddings"]
    assert len(alpha) == 8 and alpha != beta


def test_429_is_retried_then_succeeds(tmp_path: Path) -> None:
    with openai_stub(failures=[429, 429]) as stub:
        response = _call(_openai(stub, tmp_path))
        assert stub.count == 3
    assert response.output == "echo: hi there"


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    with openai_stub(failures=[{"status": 429, "retry_after": "0.4"}]) as stub:
        start = time.perf_counter()
        _call(_openai(stub, tmp_path))
        elapsed = time.perf_counter() - start
        assert stub.count == 2
    assert elapsed >= 0.4


def test_500s_exhaust_retries_into_provider_error(tmp_path: Path) -> None:
    with openai_stub(failures=[500] * 10) as stub:
        provider = load_provider(
            {"id": "openai:chat:m", "config": {"maxRetries": 2}},
            base_dir=tmp_path,
            env={**FAST, "OPENAI_BASE_URL": stub.openai_url},
        )
        with pytest.raises(ProviderError, match="HTTP 500 .* after 2 retries"):
            _call(provider)
        assert stub.count == 3


def test_client_errors_are_not_retried(tmp_path: Path) -> None:
    with openai_stub(failures=[400]) as stub:
        with pytest.raises(ProviderError, match="HTTP 400.*stub failure 400"):
            _call(_openai(stub, tmp_path))
        assert stub.count == 1


def test_timeout_on_a_hanging_server(tmp_path: Path) -> None:
    with openai_stub(failures=["hang"]) as stub:
        start = time.perf_counter()
        with pytest.raises(ProviderError, match="timed out after 0.3s"):
            _call(_openai(stub, tmp_path), timeout_s=0.3)
        assert time.perf_counter() - start < 2


def test_malformed_json_is_a_provider_error(tmp_path: Path) -> None:
    with openai_stub(failures=["malformed"]) as stub:
        with pytest.raises(ProviderError, match="malformed JSON from .*/v1/chat/completions"):
            _call(_openai(stub, tmp_path))


def test_response_without_choices_is_a_provider_error(tmp_path: Path) -> None:
    with openai_stub(failures=["empty"]) as stub:
        with pytest.raises(ProviderError, match="no choices"):
            _call(_openai(stub, tmp_path))


def test_dropped_connection_is_retried(tmp_path: Path) -> None:
    with openai_stub(failures=["close"]) as stub:
        assert _call(_openai(stub, tmp_path)).output == "echo: hi there"
        assert stub.count == 2


def test_connection_refused_is_a_provider_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    provider = load_provider(
        {"id": "openai:chat:m", "config": {"apiBaseUrl": url, "maxRetries": 1}},
        base_dir=tmp_path,
        env=FAST,
    )
    with pytest.raises(
        ProviderError, match="cannot connect to http://127.0.0.1:.* after 1 retries"
    ):
        _call(provider)


# Cache --------------------------------------------------------------------------------------


def test_cache_hit_miss_and_no_cache(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with openai_stub() as stub:
        env = {"OPENAI_BASE_URL": stub.openai_url, "PROMPTFOO_CACHE_PATH": str(cache_dir)}
        first = _call(load_provider("openai:chat:gpt-4o-mini", base_dir=tmp_path, env=env))
        second = _call(load_provider("openai:chat:gpt-4o-mini", base_dir=tmp_path, env=env))
        other_prompt = _call(
            load_provider("openai:chat:gpt-4o-mini", base_dir=tmp_path, env=env), "x"
        )
        bypass = _call(
            load_provider("openai:chat:gpt-4o-mini", base_dir=tmp_path, env=env), no_cache=True
        )
        assert stub.count == 3  # first, other prompt, bypass
    assert (first.cached, second.cached, bypass.cached) == (False, True, False)
    assert second.output == first.output
    assert second.token_usage.cached == first.token_usage.total == 5
    assert second.cost == first.cost
    assert other_prompt.output == "echo: x"
    assert len(list(cache_dir.rglob("*.json"))) == 2
    assert not list(cache_dir.rglob("*.tmp"))


def test_errors_are_never_cached(tmp_path: Path) -> None:
    with openai_stub(failures=[500]) as stub:
        env = {
            **FAST,
            "OPENAI_BASE_URL": stub.openai_url,
            "PROMPTFOO_CACHE_PATH": str(tmp_path / "c"),
        }
        entry = {"id": "openai:chat:m", "config": {"maxRetries": 0}}
        with pytest.raises(ProviderError):
            _call(load_provider(entry, base_dir=tmp_path, env=env))
        again = _call(load_provider(entry, base_dir=tmp_path, env=env))
        assert stub.count == 2
    assert again.cached is False and again.output == "echo: hi there"


def test_cache_key_depends_on_endpoint_and_config(tmp_path: Path) -> None:
    with openai_stub() as a, openai_stub() as b:
        env = {"PROMPTFOO_CACHE_PATH": str(tmp_path / "c")}
        for stub in (a, b):
            entry = {"id": "openai:chat:m", "config": {"apiBaseUrl": stub.openai_url}}
            _call(load_provider(entry, base_dir=tmp_path, env=env))
        warm = {"id": "openai:chat:m", "config": {"apiBaseUrl": a.openai_url, "temperature": 1}}
        _call(load_provider(warm, base_dir=tmp_path, env=env))
        assert (a.count, b.count) == (2, 1)


# Anthropic and Ollama -----------------------------------------------------------------------


def test_anthropic_messages_wire_format(tmp_path: Path) -> None:
    prompt = json.dumps(
        [{"role": "system", "content": "terse"}, {"role": "user", "content": "name a fruit"}]
    )
    with anthropic_stub() as stub:
        provider = load_provider(
            "anthropic:messages:claude-3-5-haiku-20241022",
            base_dir=tmp_path,
            env={**FAST, "ANTHROPIC_BASE_URL": stub.url, "ANTHROPIC_API_KEY": "ak"},
        )
        response = _call(provider, prompt)
        request = stub.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "ak"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "terse"
    assert request.body["messages"] == [{"role": "user", "content": "name a fruit"}]
    assert request.body["max_tokens"] == 1024
    assert response.output == "echo: name a fruit"
    assert response.finish_reason == "stop"
    assert (response.token_usage.prompt, response.token_usage.completion) == (3, 4)
    assert response.cost == pytest.approx(3 * 0.8e-6 + 4 * 4e-6)


def test_anthropic_plain_prompt_and_retry(tmp_path: Path) -> None:
    with anthropic_stub(failures=[529]) as stub:
        provider = load_provider(
            "anthropic:messages:claude-x",
            base_dir=tmp_path,
            env={**FAST, "ANTHROPIC_BASE_URL": stub.url},
        )
        response = _call(provider, "hello")
        body = stub.requests[-1].body
        assert stub.count == 2
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    assert response.output == "echo: hello"
    assert response.cost is None


def test_ollama_chat_wire_format(tmp_path: Path) -> None:
    with ollama_stub() as stub:
        provider = load_provider(
            {"id": "ollama:chat:llama3.2", "config": {"temperature": 0.1}},
            base_dir=tmp_path,
            env={**FAST, "OLLAMA_BASE_URL": stub.url},
        )
        response = _call(provider, "one two")
        body = stub.requests[0].body
        path = stub.requests[0].path
    assert path == "/api/chat"
    assert body == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "one two"}],
        "stream": False,
        "options": {"temperature": 0.1},
    }
    assert response.output == "echo: one two"
    assert (response.token_usage.prompt, response.token_usage.completion) == (2, 3)


# Generic HTTP -------------------------------------------------------------------------------


def _http(stub, tmp_path: Path, **config: Any) -> Provider:
    entry = {
        "id": "https",
        "config": {
            "url": stub.url + "/echo",
            "body": {"q": "{{ prompt }}", "who": "{{ name }}", "n": 3},
            **config,
        },
    }
    return load_provider(entry, base_dir=tmp_path, env=FAST)


def test_http_provider_renders_body_and_returns_json(tmp_path: Path) -> None:
    with stub_server_ctx() as stub:
        response = _call(
            _http(stub, tmp_path, headers={"X-Who": "{{ name }}"}), "ask", vars={"name": "Ada"}
        )
        request = stub.requests[0]
    assert request.body == {"q": "ask", "who": "Ada", "n": 3}
    assert request.headers["X-Who"] == "Ada"
    assert response.output["received"] == {"q": "ask", "who": "Ada", "n": 3}


@pytest.mark.parametrize(
    "transform",
    [
        "json.received.q + '!'",
        "(json, text) => json.received.q + '!'",
        "data => { return data.received.q + '!'; }",
        "file://tx.py:pick",
    ],
)
def test_http_transform_response_forms(tmp_path: Path, transform: str) -> None:
    (tmp_path / "tx.py").write_text(
        "def pick(json, text, context):\n    return json['received']['q'] + '!'\n"
    )
    with stub_server_ctx() as stub:
        response = _call(_http(stub, tmp_path, transformResponse=transform), "ask", vars={})
    assert response.output == "ask!"


def test_http_transform_with_js_operators(tmp_path: Path) -> None:
    expr = "json.missing === undefined && json.received.n === 3 ? 'yes' : 'no'"
    with stub_server_ctx() as stub:
        ternary = _http(stub, tmp_path, transformResponse=expr)  # JavaScript, so ternaries work
        assert _call(ternary, "x", vars={}).output == "yes"
        ok = _http(stub, tmp_path, transformResponse="json.missing || json.received.who")
        assert _call(ok, "x", vars={"name": "Bo"}).output == "Bo"


def test_http_transform_nullish_keeps_zero(tmp_path: Path) -> None:
    """``??`` only replaces null/undefined: a score of 0 stays 0 (a Python ``or`` gave 1)."""
    with stub_server_ctx() as stub:
        provider = _http(
            stub, tmp_path, body={"score": 0}, transformResponse="json.received.score ?? 1"
        )
        assert _call(provider, "x", vars={}).output == 0
        missing = _http(stub, tmp_path, transformResponse="json.received.score ?? 1")
        assert _call(missing, "x", vars={"name": "Bo"}).output == 1


def test_http_error_status_is_a_provider_error(tmp_path: Path) -> None:
    with stub_server_ctx(failures=[404]) as stub:
        with pytest.raises(ProviderError, match="HTTP 404"):
            _call(_http(stub, tmp_path), "x", vars={})


def test_http_provider_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="config.url"):
        load_provider({"id": "http", "config": {}}, base_dir=tmp_path, env=FAST)


def stub_server_ctx(**kw: Any):
    return openai_stub(**kw)


# Both transports: the lean plain-HTTP pool and httpx (used for https and proxies) -----------


@pytest.mark.parametrize("client", ["", "httpx"])
@pytest.mark.parametrize(
    ("failures", "expected_count", "error"),
    [
        ([429, 503], 3, None),
        (["close"], 2, None),
        ([500, 500, 500], 3, "HTTP 500 .* after 2 retries"),
        (["malformed"], 1, "malformed JSON"),
        (["hang"], 1, "timed out after 0.3s"),
    ],
)
def test_failure_paths_on_both_http_clients(
    tmp_path: Path, client: str, failures: list[Any], expected_count: int, error: str | None
) -> None:
    with openai_stub(failures=failures) as stub:
        provider = load_provider(
            {"id": "openai:chat:m", "config": {"maxRetries": 2}},
            base_dir=tmp_path,
            env={**FAST, "OPENAI_BASE_URL": stub.openai_url, "PROMPTGOV_HTTP_CLIENT": client},
        )
        if error is None:
            assert _call(provider, timeout_s=0.3).output == "echo: hi there"
        else:
            with pytest.raises(ProviderError, match=error):
                _call(provider, timeout_s=0.3)
        assert stub.count == expected_count


@pytest.mark.parametrize("client", ["", "httpx"])
def test_connections_are_reused_across_calls(tmp_path: Path, client: str) -> None:
    with openai_stub() as stub:
        provider = load_provider(
            "openai:chat:m",
            base_dir=tmp_path,
            env={**FAST, "OPENAI_BASE_URL": stub.openai_url, "PROMPTGOV_HTTP_CLIENT": client},
            max_concurrency=4,
        )

        async def run() -> list[str]:
            try:
                calls = [provider.call(f"q{i}", CallContext()) for i in range(20)]
                return [r.output for r in await asyncio.gather(*calls)]
            finally:
                await provider.aclose()

        outputs = asyncio.run(run())
        assert outputs == [f"echo: q{i}" for i in range(20)]
        assert stub.count == 20
        assert stub.connections <= 4  # pooled to max_concurrency, kept alive

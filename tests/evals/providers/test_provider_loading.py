"""load_provider: every promptfoo provider entry form, and clear errors for bad ones."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from promptgov.evals.providers import (
    KNOWN_PROVIDER_PREFIXES,
    get_default_grader,
    load_provider,
    load_providers,
)
from promptgov.evals.providers.interface import CallContext, ProviderConfigError

ENV = {"PROMPTFOO_CACHE_ENABLED": "false"}


def test_echo_returns_prompt_with_zero_cost_and_one_request(tmp_path: Path) -> None:
    provider = load_provider("echo", base_dir=tmp_path, env=ENV)
    response = asyncio.run(provider.call("Hello {{x}}", CallContext()))
    assert provider.id == "echo" and provider.label == "echo"
    assert response.output == "Hello {{x}}"
    assert response.cost == 0
    assert response.token_usage.to_dict() == {
        "total": 0,
        "prompt": 0,
        "completion": 0,
        "cached": 0,
        "numRequests": 1,
    }
    assert response.cached is False


def test_entry_mapping_sets_label_delay_prompts_and_transform(tmp_path: Path) -> None:
    provider = load_provider(
        {
            "id": "echo",
            "label": "my echo",
            "delay": 5,
            "prompts": ["p1"],
            "transform": "output.toUpperCase()",
            "config": {"k": "v"},
        },
        base_dir=tmp_path,
        env=ENV,
    )
    assert (provider.label, provider.delay, provider.prompts) == ("my echo", 5, ["p1"])
    assert provider.transform == "output.toUpperCase()"
    assert provider.config == {"k": "v"}


def test_provider_options_map_form(tmp_path: Path) -> None:
    provider = load_provider({"echo": {"label": "mapped"}}, base_dir=tmp_path, env=ENV)
    assert (provider.id, provider.label) == ("echo", "mapped")


def test_env_references_in_config_are_expanded(tmp_path: Path) -> None:
    provider = load_provider(
        {"id": "echo", "config": {"url": "{{ env.BASE }}/x", "n": 3}},
        base_dir=tmp_path,
        env={**ENV, "BASE": "http://h"},
    )
    assert provider.config == {"url": "http://h/x", "n": 3}


def test_unknown_provider_names_id_and_known_prefixes(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError) as info:
        load_provider("bedrock:claude", base_dir=tmp_path, env=ENV)
    message = str(info.value)
    assert "'bedrock:claude'" in message
    assert "openai:chat:" in message and "echo" in message
    assert "\n" not in message


def test_entry_without_id_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="has no 'id'"):
        load_provider({"label": "a", "config": {}}, base_dir=tmp_path, env=ENV)


def test_missing_python_script_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="nope.py not found"):
        load_provider("python:nope.py", base_dir=tmp_path, env=ENV)


def test_negative_delay_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="'delay'"):
        load_provider({"id": "echo", "delay": -1}, base_dir=tmp_path, env=ENV)


def test_provider_file_with_one_and_many_entries(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("id: echo\nlabel: from-file\n")
    (tmp_path / "many.yaml").write_text("- id: echo\n  label: a\n- id: echo\n  label: b\n")
    assert load_provider("file://one.yaml", base_dir=tmp_path, env=ENV).label == "from-file"
    labels = [
        p.label for p in load_providers(["file://many.yaml", "echo"], base_dir=tmp_path, env=ENV)
    ]
    assert labels == ["a", "b", "echo"]
    with pytest.raises(ProviderConfigError, match="lists 2 providers"):
        load_provider("file://many.yaml", base_dir=tmp_path, env=ENV)


def test_missing_provider_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="absent.yaml"):
        load_providers("file://absent.yaml", base_dir=tmp_path, env=ENV)


def test_openai_ids_follow_promptfoo(tmp_path: Path) -> None:
    plain = load_provider("openai:chat:gpt-4o-mini", base_dir=tmp_path, env=ENV)
    hosted = load_provider(
        {"id": "openai:chat:llama3", "config": {"apiBaseUrl": "http://127.0.0.1:1/v1"}},
        base_dir=tmp_path,
        env=ENV,
    )
    bare = load_provider(
        "openai:chat:llama3", base_dir=tmp_path, env=ENV | {"OPENAI_BASE_URL": "http://x/v1"}
    )
    assert plain.id == "openai:gpt-4o-mini"
    assert hosted.id == "openai:chat:llama3"  # an explicit entry id is kept
    assert bare.id == "openai:llama3"


def test_known_prefixes_cover_every_family() -> None:
    for prefix in ("echo", "python:", "exec:", "http", "openai:chat:", "anthropic:messages:"):
        assert prefix in KNOWN_PROVIDER_PREFIXES
    assert "ollama:chat:" in KNOWN_PROVIDER_PREFIXES


def test_default_grader_needs_an_openai_endpoint() -> None:
    assert get_default_grader({}) is None
    grader = get_default_grader({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert grader is not None and grader.id.startswith("openai:")
    chosen = get_default_grader({"OPENAI_API_KEY": "k", "PROMPTFOO_DEFAULT_GRADER_MODEL": "m1"})
    assert chosen is not None and chosen.id == "openai:m1"


def test_echo_only_runs_do_not_import_httpx(tmp_path: Path) -> None:
    code = (
        "import sys, asyncio, pathlib\n"
        "from promptgov.evals.providers import load_provider\n"
        "from promptgov.evals.types import CallContext\n"
        "p = load_provider('echo', base_dir=pathlib.Path('.'), env={})\n"
        "asyncio.run(p.call('x', CallContext()))\n"
        "print('httpx' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "False"


def test_the_provider_table_is_the_one_list_of_providers() -> None:
    """Dispatch, the unknown-id message and the docs all follow ``PROVIDER_TABLE``."""
    from promptgov.evals.providers import KNOWN_PROVIDER_PREFIXES, PROVIDER_TABLE

    ids = [i for row in PROVIDER_TABLE for i in row.ids]
    assert list(KNOWN_PROVIDER_PREFIXES) == ids
    docs = (Path(__file__).parents[3] / "docs" / "evals.md").read_text()
    providers_line = docs[docs.index("- Providers:") :].split("\n- ")[0]
    assert [i for i in ids if f"`{i}" not in providers_line] == []
    with pytest.raises(ProviderConfigError) as caught:
        load_provider("bedrock:claude", base_dir=Path("."), env={})
    assert all(i in str(caught.value) for i in ids)

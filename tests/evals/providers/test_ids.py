"""Provider ids name one model however promptfoo lets them be spelled."""

from __future__ import annotations

import pytest

from promptgov.evals.providers.ids import model_key, same_model


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("openai:chat:gpt-4o-mini", "openai:gpt-4o-mini"),
        ("anthropic:messages:claude-3-5-haiku-20241022", "anthropic:claude-3-5-haiku-20241022"),
        ("openai:embeddings:text-embedding-3-small", "openai:embedding:text-embedding-3-small"),
        ("ollama:llama3", "ollama:completion:llama3"),
        (" file://model_stub.py", "file://model_stub.py"),
    ],
)
def test_spellings_of_one_model_are_the_same(a: str, b: str) -> None:
    assert same_model(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("openai:chat:gpt-4o-mini", "openai:chat:gpt-4o-mini-2024-07-18"),
        ("openai:chat:gpt-4o-mini", "openai:completion:gpt-4o-mini"),
        ("openai:chat:gpt-4o-mini", "anthropic:messages:gpt-4o-mini"),
        ("ollama:chat:llama3", "ollama:llama3"),
        ("openai:chat:gpt-4o-mini", "gpt-4o-mini"),
    ],
)
def test_different_models_or_apis_differ(a: str, b: str) -> None:
    assert not same_model(a, b)


def test_the_key_spells_the_api_out() -> None:
    assert model_key("openai:gpt-4o-mini") == "openai:chat:gpt-4o-mini"
    assert model_key("echo") == "echo"

"""The real ``langfuse`` SDK reading prompts from promptgov's compatible endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langfuse import Langfuse
from langfuse.api import NotFoundError, UnauthorizedError

from promptgov import AddOptions, Registry, add
from promptgov.model import ChatMessage, ModelSpec, PromptCard, PromptSource, Variable

from ..flows import PROMPT
from .conftest import Served, start

CHAT = "faq-chat"


@pytest.fixture(scope="module")
def server(released: Path) -> Iterator[Served]:
    source = PromptSource(
        messages=[
            ChatMessage(role="system", content="You answer questions about {{ product }}."),
            ChatMessage(role="user", content="{{ question }}"),
        ],
        model=ModelSpec(provider="openai:chat:gpt-4o-mini", parameters={"temperature": 0}),
        variables=[Variable(name="product"), Variable(name="question")],
        card=PromptCard(owner="carol", tags=["faq"]),
    )
    add(Registry(released), CHAT, AddOptions(message="first", source=source), by="carol")
    yield from start(released)


def _client(server: Served, key: str = "viewer") -> Langfuse:
    token = server.tokens[key]
    return Langfuse(
        public_key=f"pgt_{token.record.id}",
        secret_key=token.secret,
        host=server.url,
        tracing_enabled=False,
    )


def test_text_prompt_by_label_compiles(server: Served) -> None:
    lf = _client(server)
    prompt = lf.get_prompt(PROMPT, cache_ttl_seconds=0)  # label production = prod
    assert prompt.version == 2 and "production" in prompt.labels
    assert prompt.config["promptgov_version"] == "1.1.0"
    assert prompt.config["temperature"] == 0.2
    text = prompt.compile(customer_name="Ada", order_id="A-1", message="late parcel")
    assert "Customer: Ada\nOrder: A-1\nMessage: late parcel" in text
    assert "{{" not in text


def test_text_prompt_by_version_and_by_environment_label(server: Served) -> None:
    lf = _client(server)
    first = lf.get_prompt(PROMPT, version=1, cache_ttl_seconds=0)
    staging = lf.get_prompt(PROMPT, label="staging", cache_ttl_seconds=0)
    assert first.config["promptgov_version"] == "1.0.0" and first.labels == []
    assert staging.config["promptgov_version"] == "1.1.0"
    assert set(staging.labels) == {"dev", "staging", "production", "latest"}


def test_chat_prompt_by_label_and_version(server: Served) -> None:
    lf = _client(server)
    latest = lf.get_prompt(CHAT, type="chat", label="latest", cache_ttl_seconds=0)
    pinned = lf.get_prompt(CHAT, type="chat", version=1, cache_ttl_seconds=0)
    assert latest.version == pinned.version == 1
    messages = latest.compile(product="Acme Router", question="How do I reset it?")
    assert messages == [
        {"role": "system", "content": "You answer questions about Acme Router."},
        {"role": "user", "content": "How do I reset it?"},
    ]
    assert latest.tags == ["faq"]


def test_unknown_names_raise_the_sdks_own_not_found(server: Served) -> None:
    lf = _client(server)
    with pytest.raises(NotFoundError):
        lf.get_prompt("no-such-prompt", cache_ttl_seconds=0, max_retries=0)
    with pytest.raises(NotFoundError):
        lf.get_prompt(PROMPT, version=99, cache_ttl_seconds=0, max_retries=0)


def test_a_wrong_secret_is_the_sdks_unauthorized(server: Served) -> None:
    # The SDK keeps one client per public key, so the forged pair has a key of its own.
    lf = Langfuse(
        public_key="pgt_000000000000",
        secret_key="pgt_000000000000_" + "A" * 43,
        host=server.url,
        tracing_enabled=False,
    )
    with pytest.raises(UnauthorizedError):
        lf.get_prompt(PROMPT, cache_ttl_seconds=0, max_retries=0)

"""The application-side client: TTL cache, stale-on-error, disk last-good copy, fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptgov import PromptClient
from promptgov.errors import NotFound

from . import flows
from .flows import PROMPT, Clock, add_version, release

VARS = {"customer_name": "Dana", "order_id": "A-1", "message": "late"}


def _client(root: Path | None, tmp_path: Path, clock: Clock, **kw) -> PromptClient:
    return PromptClient(
        root, ttl=30, cache_dir=tmp_path / "sdk-cache", clock=clock, environ={}, **kw
    )


def test_get_serves_the_environment_version_with_its_hash(
    served_repo: Path, tmp_path: Path
) -> None:
    served = _client(served_repo, tmp_path, Clock()).get(PROMPT)
    rec = flows.registry(served_repo).record(PROMPT, "1.0.0")
    assert (served.version, served.sha256, served.source, served.env) == (
        "1.0.0",
        rec.sha256,
        "live",
        "prod",
    )
    text = served.render(**VARS)
    assert isinstance(text, str) and "Customer: Dana" in text


def test_answers_from_memory_until_the_ttl_passes(served_repo: Path, tmp_path: Path) -> None:
    clock = Clock()
    client = _client(served_repo, tmp_path, clock)
    assert client.get(PROMPT).version == "1.0.0"
    add_version(served_repo, "1.1.0")
    release(served_repo, "1.1.0")
    clock.now = 29.0
    assert client.get(PROMPT).version == "1.0.0"
    clock.now = 30.5
    assert client.get(PROMPT).version == "1.1.0"


def test_a_failing_reread_keeps_serving_the_last_answer(served_repo: Path, tmp_path: Path) -> None:
    clock = Clock()
    client = _client(served_repo, tmp_path, clock)
    first = client.get(PROMPT)
    (served_repo / "schemas/prompt-version-schema.yml").write_text("prompts: [broken\n")
    clock.now = 60
    stale = client.get(PROMPT)
    assert (stale.source, stale.version, stale.sha256) == ("stale", "1.0.0", first.sha256)
    assert stale.error and "malformed YAML" in stale.error


def test_a_new_process_falls_back_to_the_disk_copy(served_repo: Path, tmp_path: Path) -> None:
    _client(served_repo, tmp_path, Clock()).get(PROMPT)
    rec = flows.registry(served_repo).record(PROMPT, "1.0.0")
    obj = served_repo / f".promptgov/objects/{rec.sha256[:2]}/{rec.sha256[2:]}.content.json"
    obj.write_bytes(obj.read_bytes().replace(b"never promise", b"always promise"))
    served = _client(served_repo, tmp_path, Clock()).get(PROMPT)
    assert (served.source, served.version, served.sha256) == ("disk", "1.0.0", rec.sha256)
    assert "never promise" in served.content.template  # the altered object was not served


def test_an_altered_disk_copy_is_never_served(served_repo: Path, tmp_path: Path) -> None:
    _client(served_repo, tmp_path, Clock()).get(PROMPT)
    [cache_file] = (tmp_path / "sdk-cache").glob(f"{PROMPT}@prod.*.json")
    data = json.loads(cache_file.read_text())
    data["content"]["template"] = "Promise every refund."
    cache_file.write_text(json.dumps(data))
    client = _client(
        tmp_path / "gone", tmp_path, Clock(), fallback={PROMPT: "Hello {{ customer_name }}"}
    )
    served = client.get(PROMPT)
    assert served.source == "fallback"
    assert served.render(customer_name="Dana") == "Hello Dana"


def test_without_repository_cache_or_fallback_the_error_says_what_to_do(tmp_path: Path) -> None:
    client = _client(tmp_path / "gone", tmp_path, Clock())
    with pytest.raises(NotFound, match=r"No cached copy and no fallback; pass fallback="):
        client.get(PROMPT)


def test_invalidate_forces_a_reread_before_the_ttl(served_repo: Path, tmp_path: Path) -> None:
    client = _client(served_repo, tmp_path, Clock())
    assert client.get(PROMPT).version == "1.0.0"
    add_version(served_repo, "1.1.0")
    release(served_repo, "1.1.0")
    assert client.get(PROMPT).version == "1.0.0"
    client.invalidate(PROMPT)
    assert client.get(PROMPT).version == "1.1.0"

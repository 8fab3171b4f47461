"""Content hashes: independent of key order, sensitive to every content change."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from promptgov.model import ModelSpec, PromptContent, Variable, semver_key

texts = st.text(min_size=1, max_size=50)


@given(
    texts,
    st.dictionaries(st.sampled_from(["temperature", "top_p", "max_tokens"]), st.integers(0, 9)),
)
def test_hash_ignores_parameter_key_order(template: str, params: dict) -> None:
    a = PromptContent(template=template, model=ModelSpec(provider="p", parameters=params))
    b = PromptContent(
        template=template,
        model=ModelSpec(provider="p", parameters=dict(reversed(list(params.items())))),
    )
    assert a.sha256 == b.sha256


@given(texts, texts)
def test_hash_changes_with_template(t1: str, t2: str) -> None:
    a = PromptContent(template=t1, model=ModelSpec(provider="p"))
    b = PromptContent(template=t2, model=ModelSpec(provider="p"))
    assert (a.sha256 == b.sha256) == (t1 == t2)


def test_hash_changes_with_variables_and_model() -> None:
    base = PromptContent(
        template="{{x}}", model=ModelSpec(provider="p"), variables=[Variable(name="x")]
    )
    other_var = base.model_copy(update={"variables": [Variable(name="x", required=False)]})
    other_model = base.model_copy(update={"model": ModelSpec(provider="q")})
    assert len({base.sha256, other_var.sha256, other_model.sha256}) == 3


def test_semver_precedence_matches_the_spec_example() -> None:
    # The ordering example given in semver.org §11.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]
    assert sorted(reversed(ordered), key=semver_key) == ordered

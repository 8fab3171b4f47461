"""The YAML layer: the fast emitter round-trips, user files keep their comments."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from promptgov import _yaml

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=25,
)


@given(json_like)
@settings(max_examples=300)
def test_dump_block_round_trips_through_a_standard_loader(value) -> None:
    text = _yaml.dump_block(value)
    assert yaml.safe_load(text) == value


@given(st.binary(max_size=200))
def test_loads_never_raises_anything_but_invalid_file(data: bytes) -> None:
    from promptgov.errors import InvalidFile

    try:
        _yaml.loads(data, "fuzz.yml")
    except InvalidFile:
        pass


def test_roundtrip_edit_keeps_comments_and_key_order() -> None:
    src = b"# top comment\nb: 1  # why b\na:\n  - x  # item\n  - y\n"

    def edit(doc) -> None:
        doc["b"] = 2

    out = _yaml.edit_roundtrip(src, "f.yml", edit).decode()
    assert out == "# top comment\nb: 2  # why b\na:\n  - x  # item\n  - y\n"

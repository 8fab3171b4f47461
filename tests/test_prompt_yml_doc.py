"""docs/prompt-yml.md shows working copies that ``add`` accepts and names every field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promptgov import _yaml
from promptgov.model import ModelSpec, PromptCard, PromptSource, Variable, validate_model
from promptgov.render import check_variables

DOC = Path(__file__).resolve().parent.parent / "docs" / "prompt-yml.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("example", EXAMPLES, ids=["text", "chat"])
def test_every_example_is_a_valid_working_copy(example: str) -> None:
    src = validate_model(PromptSource, _yaml.loads(example, "example"), "example")
    check_variables(src.content(), "example")


def test_the_fields_table_names_every_field() -> None:
    text = DOC.read_text(encoding="utf-8")
    fields = [
        *(f"`{f}`" for f in PromptSource.model_fields if f not in ("model", "variables", "card")),
        *(f"`model.{f}`" for f in ModelSpec.model_fields),
        *(f"`variables[].{f}`" for f in Variable.model_fields),
        *(f"`card.{f}`" for f in PromptCard.model_fields),
    ]
    assert [f for f in fields if f"| {f} |" not in text] == []
    assert len(EXAMPLES) == 2

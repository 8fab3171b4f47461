"""Every Mermaid diagram promptgov generates parses with mermaid's own parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import promptgov
from promptgov import docs_gen
from promptgov.model import ApprovalPolicy, EnvironmentConfig, ProjectConfig
from tests.node_tools import mermaid_parse

_BLOCK = re.compile(r"```mermaid\n(.*?)```", re.S)

#: Environment names mermaid reads as syntax when unquoted; all are valid in promptgov.yml.
AWKWARD = ["end", "graph", "flowchart", "subgraph", "style", "class", "click", "default", "a-b_c"]
#: Not valid environment names today; the diagrams must still hold if the rule ever widens.
BEYOND_THE_RULE = ["prod (eu)", 'say "hi"', "pröd-ü", "two words", "a|b]c{d}<e>#f;g`h"]


def _config(*names: str, required: int = 1) -> ProjectConfig:
    return ProjectConfig(
        environments=[
            EnvironmentConfig(name=n, approvals=ApprovalPolicy(required=required)) for n in names
        ]
    )


def _unchecked(*names: str) -> ProjectConfig:
    envs = [
        EnvironmentConfig.model_construct(name=n, approvals=ApprovalPolicy(required=2))
        for n in names
    ]
    return ProjectConfig.model_construct(environments=envs, gate_file="ci/eval-gate.yml")


def _diagrams(docs: dict[str, bytes], tmp_path: Path) -> list[Path]:
    """Each mermaid block of the generated documents, written to its own file."""
    out = []
    for rel, data in docs.items():
        for i, block in enumerate(_BLOCK.findall(data.decode())):
            path = tmp_path / f"{Path(rel).stem}-{i}.mmd"
            path.write_text(block, encoding="utf-8")
            out.append(path)
    return out


def _assert_all_parse(paths: list[Path]) -> None:
    verdicts = mermaid_parse(*paths)
    assert len(verdicts) == len(paths)
    assert [v for v in verdicts if not v["ok"]] == []


def test_every_diagram_of_the_init_config_parses(example_repo: Path, tmp_path: Path) -> None:
    docs = {
        rel: (example_repo / rel).read_bytes()
        for rel in docs_gen.generate(promptgov.Repo(example_repo).config)
    }
    paths = _diagrams(docs, tmp_path)
    assert len(paths) == 3  # lifecycle, promotion pipeline, rollback flow
    verdicts = mermaid_parse(*paths)
    assert [
        (p.stem, v["ok"], v.get("diagramType")) for p, v in zip(paths, verdicts, strict=True)
    ] == [
        ("prompt-lifecycle-diagram-0", True, "stateDiagram"),
        ("promotion-pipeline-0", True, "flowchart-v2"),
        ("rollback-flow-0", True, "flowchart-v2"),
    ]


@pytest.mark.parametrize(
    "config",
    [
        _config("dev"),
        _config("dev", "staging", "prod", required=0),
        _config(*AWKWARD),
        _config("end", "graph", required=3),
    ],
    ids=["one-env", "no-approvals", "keywords", "end-graph"],
)
def test_pipeline_diagram_parses_for_valid_configs(config: ProjectConfig, tmp_path: Path) -> None:
    _assert_all_parse(_diagrams(docs_gen.generate(config, {"default": {}}), tmp_path))


def test_pipeline_diagram_parses_with_names_beyond_the_env_rule(tmp_path: Path) -> None:
    for name in BEYOND_THE_RULE:  # the model refuses them now: prove that it does
        with pytest.raises(ValueError):
            EnvironmentConfig(name=name)
    doc = docs_gen.pipeline_doc(_unchecked(*BEYOND_THE_RULE, *AWKWARD))
    _assert_all_parse(_diagrams({"docs/promotion-pipeline.md": doc.encode()}, tmp_path))


def test_labels_keep_the_names_they_show() -> None:
    doc = docs_gen.pipeline_doc(_config("end"))
    assert 'env_0["end"]' in doc
    assert '-->|"1 approval(s)"|' in doc
    assert "#34;hi#34;" in docs_gen.pipeline_doc(_unchecked('say "hi"'))


def test_mermaid_rejects_the_unquoted_diagram_the_issue_reported(tmp_path: Path) -> None:
    """The check can fail: the old pipeline text, with `(s)` and a node named end."""
    bad = tmp_path / "bad.mmd"
    bad.write_text(
        "flowchart LR\n    gate_0{{gate: dev}} -->|1 approval(s)| dev[dev]\n    dev --> end\n"
    )
    [verdict] = mermaid_parse(bad)
    assert verdict["ok"] is False and "Parse error" in verdict["error"]

"""``promptgov init``: lay out a governed repository, optionally with a working example."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .. import _yaml, ci_gen, docs_gen, schemas
from ..audit._sink import ChainSink
from ..errors import Conflict, InputError
from ..model import ProjectConfig, PromptSource
from ..repo import Repo
from ..store import registry_file
from ..store.changelog import HEADER as CHANGELOG_HEADER
from ..store.files import STATE_DIR, Transaction, read_bytes, repo_lock
from ..store.objects import ObjectStore
from ..store.paths import (
    AUDIT_FILE,
    CHANGELOG_FILE,
    CONFIG_FILE,
    EVAL_CONFIG_FILE,
    GATE_FILE,
    REGISTRY_FILE,
)
from . import merge
from ._policy_files import POLICY_DIRS, Digests, governed_set

#: Files whose presence means the directory is already a governed repository.
GOVERNED_MARKERS = (CONFIG_FILE, REGISTRY_FILE, CHANGELOG_FILE, AUDIT_FILE, STATE_DIR)
EXAMPLE_PROMPT = "support-reply"
STATE_GITIGNORE = "lock\ncache/\nstaging/\njournal.json\noutbox/\nunpublished/\n*.tmp\n"
SHA_PLACEHOLDER = "<filled at init>"
#: The example's suite answers with an offline stub in place of the model its prompt declares.
EXAMPLE_STAND_INS = """\
  stand_ins:
    # The example's offline model stub (evals/model_stub.py) answers for gpt-4o-mini.
    openai:chat:gpt-4o-mini: [file://model_stub.py]
"""


def _template(*parts: str) -> bytes:
    return resources.files("promptgov").joinpath("templates", *parts).read_bytes()


def _example_files() -> dict[str, bytes]:
    root = resources.files("promptgov").joinpath("templates", "example")
    out: dict[str, bytes] = {}

    def walk(node: object, prefix: str) -> None:
        for child in node.iterdir():  # type: ignore[attr-defined]
            rel = f"{prefix}{child.name}"
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, rel + "/")
            else:
                out[rel] = child.read_bytes()

    walk(root, "")
    return out


def next_steps(*, example: bool = False) -> list[str]:
    """What to run after ``init``: add or import a prompt, evaluate, gate, promote."""
    name = EXAMPLE_PROMPT if example else "NAME"
    first = (
        [f"promptgov add {name} --message 'first version' --author you"]
        if example
        else [
            "promptgov import promptfooconfig.yaml --by you   (an existing promptfoo project)",
            f"promptgov add {name} --message 'first version' --author you   "
            "(after writing prompts/NAME/prompt.yml, see docs/prompt-yml.md)",
        ]
    )
    return [
        *first,
        f"promptgov eval {name}@1.0.0",
        f"promptgov gate {name}@1.0.0 --env dev",
        f"promptgov promote {name}@1.0.0 --to dev --by you --reason 'first release'",
        f"promptgov approve {name}@1.0.0 --env staging --by reviewer   (then gate and promote "
        "--to staging, and the same for prod)",
    ]


def init(directory: Path | str, *, example: bool = False, by: str = "promptgov") -> Repo:
    """Create the governed-repository layout in ``directory`` (created if missing).

    With ``example=True`` a working sample prompt, eval suite (offline model stand-in),
    gate and production log sample are added.

    Raises:
        Conflict: ``directory`` already holds a governed repository (nothing is changed).
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} exists and is not a directory; choose another path.")
    present = [m for m in GOVERNED_MARKERS if (root / m).exists()]
    if present:
        raise Conflict(
            f"{root} is already a governed repository ({', '.join(present)} exist); "
            "nothing was changed. Use it as is, or choose an empty directory."
        )
    files: dict[str, bytes] = {
        CONFIG_FILE: _template("base", "promptgov.yml"),
        EVAL_CONFIG_FILE: _template("base", "eval-config.promptfoo.yml"),
        GATE_FILE: _template("base", "eval-gate.yml"),
        REGISTRY_FILE: registry_file.render(registry_file.Prompts(b"", {}))[0],
        CHANGELOG_FILE: CHANGELOG_HEADER.encode(),
        ".pre-commit-config.yaml": _template("base", "ci_templates", "pre-commit-config.yaml"),
        "prompts/.gitkeep": b"",
        "logs/.gitkeep": b"",
        f"{STATE_DIR}/.gitignore": STATE_GITIGNORE.encode(),
    }
    existing = read_bytes(root / merge.GITATTRIBUTES) if root.is_dir() else None
    attributes = merge.attributes_text(existing.decode("utf-8", "replace") if existing else None)
    if attributes is not None:  # the merge driver for governed state (docs/team.md)
        files[merge.GITATTRIBUTES] = attributes.encode()
    if example:
        files.update(_example_files())
        src = PromptSource.model_validate(
            _yaml.loads(files[f"prompts/{EXAMPLE_PROMPT}/prompt.yml"], EXAMPLE_PROMPT)
        )
        files[CONFIG_FILE] = files[CONFIG_FILE].replace(
            b"  stand_ins: {}\n", EXAMPLE_STAND_INS.encode(), 1
        )
        sample = "logs/log-sample.output.json"
        if sample in files:
            files[sample] = files[sample].replace(
                SHA_PLACEHOLDER.encode(), src.content().sha256.encode()
            )
    files.update(schemas.generate())
    config = ProjectConfig.model_validate(_yaml.loads(files[CONFIG_FILE], CONFIG_FILE))
    files.update(docs_gen.generate(config, _yaml.loads(files[GATE_FILE], GATE_FILE)))
    files.update(ci_gen.generate(config))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {root}: {exc.strerror or exc}.") from exc
    with repo_lock(root):
        txn = Transaction(root)
        for rel, data in files.items():
            txn.write(rel, data)
        sink = ChainSink(root)
        record = sink.prepare(
            {
                "action": "init",
                "actor": by,
                "outcome": "success",
                "reason": "governed repository created" + (" with the example" if example else ""),
            }
        )
        # The first entry's commitment marks a log whose entries commit to the state they
        # wrote; it records the policy in force from the start (promptgov.yml, gate, suites).
        sink.stage(txn, [record], {"policy": initial_policy(root, config, txn)})
        txn.commit()
    return Repo(root)


def initial_policy(root: Path, config: ProjectConfig, txn: Transaction) -> Digests:
    """Keep the governed policy files (the staged ones and any suite already in the
    directory) in the object store; their digests."""
    existing = [
        p.relative_to(root).as_posix()
        for prefix in POLICY_DIRS
        for p in (root / prefix).rglob("*")
        if p.is_file()
    ]
    objects = ObjectStore(root)
    out: Digests = {}
    for rel in governed_set(config, [*txn.paths(), *existing]):
        data = txn.read(rel)
        out[rel] = None if data is None else objects.put_file(txn, data)
    return out

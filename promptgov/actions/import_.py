"""The import action: govern the prompts of an existing promptfoo config.

Each prompt of the config becomes a working copy ``prompts/<name>/prompt.yml``, its first
registered version, and an eval suite ``evals/<name>.promptfoo.yml`` that evaluates it as
``promptgov://<name>`` with the config's tests; ``promptgov.yml`` names that suite as the
prompt's. The config itself is read with the eval engine's loader and never changed, so
promptfoo still runs it as before.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _yaml
from ..errors import Conflict, InputError, InvalidFile, NotFound
from ..eval_runs import SCHEME
from ..model import (
    RESERVED_NAMES,
    ChatMessage,
    ModelSpec,
    PromptCard,
    PromptContent,
    PromptSource,
    Variable,
    check_name,
    identity,
)
from ..redact import redact
from ..registry import FIRST_VERSION, Registry
from ..render import check_variables, template_variables
from ..store.files import read_bytes
from ..store.paths import CONFIG_FILE, PROMPTS_DIR
from .add import AddOptions, stage_add

#: Where the governed suites go, one per imported prompt.
SUITES_DIR = "evals"
#: How much of a test's value a variable's description quotes.
_EXAMPLE_CHARS = 40
_CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_CODE_EXTS = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".py")


@dataclass(frozen=True)
class ImportOptions:
    """How to import a promptfoo config."""

    names: tuple[str, ...] = ()
    """The prompts' names, one per prompt of the config in order (default: from each
    prompt's label, id or file name)."""
    provider: str | None = None
    """Which provider (id or label) becomes the declared model (default: the first one that
    runs the prompt)."""
    dry_run: bool = False
    """Check everything and report what would be written, writing nothing."""


@dataclass(frozen=True)
class ImportedPrompt:
    """One prompt of the config and what it became."""

    name: str
    origin: str
    """Where it came from: ``prompts[0] (file://support.txt)``."""
    source: PromptSource
    working_copy: str
    suite: str
    version: str
    sha256: str
    other_providers: list[str] = field(default_factory=list)
    """Providers of the config the governed suite leaves out (it runs the declared model)."""
    dropped_parameters: list[str] = field(default_factory=list)
    """Credential-like provider settings not copied into the declared model."""
    suite_bytes: bytes = b""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "origin": self.origin,
            "version": self.version,
            "sha256": self.sha256,
            "working_copy": self.working_copy,
            "suite": self.suite,
            "model": self.source.model.model_dump(mode="json"),
            "variables": [v.name for v in self.source.variables],
            "other_providers": self.other_providers,
            "dropped_parameters": self.dropped_parameters,
        }


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or, in a dry run, would do)."""

    config: str
    prompts: list[ImportedPrompt]
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "config": self.config,
            "dry_run": self.dry_run,
            "prompts": [p.to_dict() for p in self.prompts],
        }


@dataclass(frozen=True)
class _Found:
    """One prompt as the engine's loader read it, and the entry that gave it."""

    index: int
    entry: Any
    text: str
    label: str | None
    id: str | None
    file: str | None
    part: int | None


def import_config(
    registry: Registry, config: str | Path, options: ImportOptions, *, by: str
) -> ImportResult:
    """Govern every prompt of the promptfoo config ``config``, as ``by``.

    Everything is checked before anything is written; then the working copies, the
    suites, ``promptgov.yml`` and the first versions (with their audit and change-log
    entries, as ``add`` writes them) are committed in one unit of work. The config is
    only read.

    Raises:
        InvalidFile: ``config`` is not a promptfoo config, or a prompt cannot be imported
            (a prompt function, a template Jinja2 cannot read).
        Conflict: a name is taken (a registered prompt, a working copy, a suite).
        NotFound: ``config`` or a file it references does not exist.
    """
    by = identity(by)
    if not by:
        raise InputError("an import needs the person importing (by=).")
    path = Path(config)
    cfg, raw = _read(path)
    found = _prompts(cfg, raw, path)
    names = _names(found, options, cfg, path)
    plans = [
        _plan(registry, f, name, cfg, raw, path, options, by)
        for f, name in zip(found, names, strict=True)
    ]
    _refuse_taken(registry, plans)
    result = ImportResult(_shown(registry, path), plans, options.dry_run)
    if not options.dry_run:
        _record(registry, result, by)
    return result


# --------------------------------------------------------------------------- reading


def _read(path: Path) -> tuple[Any, dict[str, Any]]:
    """The config as the eval engine loads it, and its mapping before ``env`` rendering;
    prompt functions are refused before the engine would try to load them."""
    from ..evals import load_config
    from ..evals.config.loader import dereference, load_yaml, read_text

    if not path.is_file():
        raise NotFound(f"promptfoo config not found: {path}")
    data = load_yaml(read_text(path, str(path)), str(path))
    if isinstance(data, dict):
        data = dereference(data, data, str(path))
        for i, entry in enumerate(_entries(data)):
            _refuse_code(path, i, entry)
    try:
        cfg = load_config(path)
    except InvalidFile as exc:
        raise InvalidFile(
            f"{path} is not a promptfoo config that can be imported: {exc.message}"
        ) from exc
    return cfg, data


def _entries(raw: dict[str, Any]) -> list[Any]:
    """The ``prompts:`` entries as a list, in promptfoo's three spellings."""
    specs = raw.get("prompts")
    if isinstance(specs, dict):
        return [{"raw": k, "label": v} for k, v in specs.items()]
    return list(specs) if isinstance(specs, list) else [specs]


def _prompts(cfg: Any, raw: dict[str, Any], path: Path) -> list[_Found]:
    """Every prompt of the config, each entry expanded by the engine's own prompt reader."""
    from ..evals import load_config

    out: list[_Found] = []
    for i, entry in enumerate(_entries(raw)):
        spec = _spec(entry)
        label = entry.get("label") if isinstance(entry, dict) else None
        pid = entry.get("id") if isinstance(entry, dict) else None
        one = {"prompts": [entry], "providers": ["echo"]}
        batch = load_config(one, base_dir=cfg.base_dir, validate_providers=False).prompts
        if any(p.function is not None for p in batch):
            _refuse_code(path, i, entry, function=True)
        is_file = len(batch) != 1 or batch[0].raw != spec
        file = _file_part(spec) if is_file and isinstance(spec, str) else None
        for j, p in enumerate(batch):
            out.append(
                _Found(
                    index=i,
                    entry=entry,
                    text=p.raw,
                    label=str(label) if label else None,
                    id=str(pid) if pid and pid != spec else None,
                    file=file,
                    part=j + 1 if len(batch) > 1 else None,
                )
            )
    return out


def _file_part(spec: str) -> str:
    """``file://prompts/a.py:fn`` → ``prompts/a.py``."""
    text = spec[len("file://") :] if spec.startswith("file://") else spec
    head, sep, _ = text.rpartition(":")
    return head if sep and head.endswith(_CODE_EXTS) else text


def _spec(entry: Any) -> Any:
    """The prompt text or file reference of a ``prompts:`` entry."""
    return (entry.get("raw") or entry.get("id")) if isinstance(entry, dict) else entry


def _refuse_code(path: Path, index: int, entry: Any, *, function: bool = False) -> None:
    """Prompt functions and commands are code, not templates a version can hold."""
    spec = _spec(entry)
    if not isinstance(spec, str):
        return
    where = f"prompts[{index}]" + (f" ({spec})" if len(spec) < 80 and "\n" not in spec else "")
    if spec.startswith(SCHEME):
        raise InvalidFile(
            f"{path}: {where} is already a governed prompt; this config is a promptgov suite, "
            "not one to import."
        )
    kind = None
    if spec.startswith("exec:"):
        kind = "an executable prompt"
    elif function or _file_part(spec).lower().endswith(_CODE_EXTS):
        kind = "a prompt function (JavaScript or Python)"
    if kind is not None:
        raise InvalidFile(
            f"{path}: {where} is {kind}; a governed version holds a template, not code, so "
            "nothing was imported. Save the prompt it builds as a text or chat JSON file, point "
            "the config at that file, and import again."
        )


# --------------------------------------------------------------------------- naming


def slugify(text: str) -> str | None:
    """``text`` as a valid prompt name (lowercase words joined by ``-``), or None."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")[:64].rstrip("-")
    if not slug or slug.split(".")[0] in RESERVED_NAMES:
        return None
    return slug


def _names(found: list[_Found], options: ImportOptions, cfg: Any, path: Path) -> list[str]:
    """Each prompt's name: as given, else its label, id or file name, else the project's."""
    if options.names:
        if len(options.names) != len(found):
            raise InputError(
                f"{path} has {len(found)} prompt(s) but {len(options.names)} name(s) were "
                "given; name every prompt, in order, or none."
            )
        for name in options.names:
            try:
                check_name(name)
            except ValueError as exc:
                raise InputError(f"{exc}.") from None
        names = list(options.names)
    else:
        project = slugify(cfg.description or "") or slugify(path.resolve().parent.name)
        unnamed = [f for f in found if not (f.label or f.id or f.file)]
        names = []
        for f in found:
            base = next(
                (
                    s
                    for s in (
                        slugify(f.label or ""),
                        slugify(f.id or ""),
                        slugify(Path(f.file).stem) if f.file else None,
                    )
                    if s
                ),
                None,
            )
            if base is None:
                base = project or "prompt"
                if len(unnamed) > 1:
                    base = f"{base}-{unnamed.index(f) + 1}"
            elif f.part is not None:
                base = f"{base}-{f.part}"
            names.append(base[:64].rstrip("-_."))
    seen: dict[str, _Found] = {}
    for name, f in zip(names, found, strict=True):
        if name in seen:
            raise Conflict(
                f"prompts[{seen[name].index}] and prompts[{f.index}] of {path} would both be "
                f"named {name!r}; give them distinct labels, or pass a name for each."
            )
        seen[name] = f
    return names


# --------------------------------------------------------------------------- planning


def _plan(
    registry: Registry,
    f: _Found,
    name: str,
    cfg: Any,
    raw: dict[str, Any],
    path: Path,
    options: ImportOptions,
    by: str,
) -> ImportedPrompt:
    """The working copy, declared model, variables and suite of one prompt."""
    origin = f"prompts[{f.index}]" + (f" ({f.file})" if f.file else "")
    if f.part is not None:
        origin += f" part {f.part}"
    suite_rel = f"{SUITES_DIR}/{name}.promptfoo.yml"
    suite_dir = registry.repo.path(SUITES_DIR)
    declared, others = _providers(cfg, raw, f, options, path)
    model, dropped = _model(raw, declared, cfg, path.resolve().parent, suite_dir)
    template, messages = _template(f.text)
    bare = PromptContent(template=template, messages=messages, model=model)
    label = f"{path}: {origin}"
    try:
        used = template_variables(bare, label)
    except InvalidFile as exc:
        raise InvalidFile(
            f"{exc.message.rstrip('.')} (promptgov templates are Jinja2, which reads "
            "promptfoo's Nunjucks except its own filters); nothing was imported."
        ) from exc
    source = PromptSource(
        template=template,
        messages=messages,
        model=model,
        variables=_variables(used, cfg),
        card=PromptCard(
            owner=by,
            description=f.label or cfg.description or f"Imported from {path.name}.",
            eval_suite=suite_rel,
        ),
    )
    check_variables(source.content(), label)
    suite = _suite(path, _shown(registry, path), name, declared, suite_dir)
    return ImportedPrompt(
        name=name,
        origin=origin,
        source=source,
        working_copy=f"{PROMPTS_DIR}/{name}/prompt.yml",
        suite=suite_rel,
        version=FIRST_VERSION,
        sha256=source.content().sha256,
        other_providers=[cfg.providers[i].key for i in others],
        dropped_parameters=dropped,
        suite_bytes=suite,
    )


def _template(text: str) -> tuple[str | None, list[ChatMessage] | None]:
    """A chat prompt (a JSON list of role/content messages) as messages, else the text."""
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    if (
        isinstance(data, list)
        and data
        and all(
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and m["role"] in _CHAT_ROLES
            and isinstance(m["content"], str)
            for m in data
        )
    ):
        return None, [ChatMessage(role=m["role"], content=m["content"]) for m in data]
    return text, None  # other JSON (content parts, an object) is kept as written


def _variables(used: set[str], cfg: Any) -> list[Variable]:
    """The template's variables, described from the values the tests give them."""
    tests = [t.vars for t in cfg.tests]
    defaults = cfg.default_test.vars if cfg.default_test is not None else {}
    out = []
    for name in sorted(used):
        values = [v[name] for v in [defaults, *tests] if name in v]
        example = next((v for v in values if isinstance(v, str | int | float)), None)
        given_everywhere = name in defaults or all(name in v for v in tests)
        description = ""
        if example is not None:
            shown = str(example)
            if len(shown) > _EXAMPLE_CHARS:
                shown = shown[: _EXAMPLE_CHARS - 1] + "…"
            description = f"For example {shown!r} (from the tests)."
        out.append(Variable(name=name, description=description, required=given_everywhere))
    return out


def _providers(
    cfg: Any, raw: dict[str, Any], f: _Found, options: ImportOptions, path: Path
) -> tuple[int, list[int]]:
    """The index of the provider declared as the prompt's model, and the others that run it."""
    keys = {k for k in (f.label, f.id) if k}
    runs = [
        i
        for i, p in enumerate(cfg.providers)
        if p.prompts is None or keys & set(map(str, p.prompts))
    ] or list(range(len(cfg.providers)))
    if options.provider is None:
        chosen = runs[0]
    else:
        match = [
            i for i in runs if options.provider in (cfg.providers[i].id, cfg.providers[i].label)
        ]
        if not match:
            known = ", ".join(cfg.providers[i].key for i in runs)
            raise InputError(
                f"{path} runs prompts[{f.index}] with {known}, not {options.provider!r}; "
                "choose one of those as the declared model."
            )
        chosen = match[0]
    return chosen, [i for i in runs if i != chosen]


def _provider_specs(raw: dict[str, Any]) -> list[Any]:
    specs = raw.get("providers", raw.get("targets"))
    return specs if isinstance(specs, list) else [specs]


def _model(
    raw: dict[str, Any], index: int, cfg: Any, base: Path, suite_dir: Path
) -> tuple[ModelSpec, list[str]]:
    """The declared model: the provider's id (as the suite spells it) and its settings,
    without credentials (those stay in the environment)."""
    spec = _provider_specs(raw)[index]
    body: Any = {}
    if isinstance(spec, dict) and "id" in spec:
        body = spec.get("config") or {}
    elif isinstance(spec, dict) and len(spec) == 1:
        ((_, inner),) = spec.items()
        body = inner.get("config") or {} if isinstance(inner, dict) else {}
    params = dict(body) if isinstance(body, dict) else {}
    dropped = sorted(k for k, v in params.items() if redact({k: v}) != {k: v})
    kept = {k: v for k, v in params.items() if k not in dropped}
    provider = _rebase(cfg.providers[index].id, base, suite_dir)
    return ModelSpec(provider=provider, parameters=kept), dropped


# --------------------------------------------------------------------------- the suite


def _rebase(value: str, base: Path, suite_dir: Path) -> str:
    """A relative ``file://`` reference of the config, as seen from the suite's directory."""
    if not value.startswith("file://"):
        return value
    ref = value[len("file://") :]
    if os.path.isabs(ref):
        return value
    return "file://" + Path(os.path.relpath(base / ref, suite_dir)).as_posix()


def _suite(path: Path, shown: str, name: str, declared: int, suite_dir: Path) -> bytes:
    """The config's text with its prompt replaced by ``promptgov://<name>``, its providers by
    the declared model, and every relative file reference rebased; comments are kept."""
    base = path.resolve().parent
    data = read_bytes(path)
    assert data is not None  # read moments ago by the loader

    def rebase(node: Any) -> Any:
        if isinstance(node, str):
            return _rebase(node, base, suite_dir)
        if isinstance(node, dict):
            for k in list(node):
                node[k] = rebase(node[k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                node[i] = rebase(v)
        return node

    def edit(doc: Any) -> None:
        key = "providers" if "providers" in doc else "targets"
        specs = doc[key] if isinstance(doc[key], list) else [doc[key]]
        chosen = specs[declared]
        if isinstance(chosen, dict):
            chosen.pop("prompts", None)
        doc[key] = [chosen]
        doc["prompts"] = [f"{SCHEME}{name}"]
        doc.pop("outputPath", None)  # a governed run records its output under logs/evals
        rebase(doc)
        tests = doc.get("tests")
        if isinstance(tests, str) and not tests.startswith("file://"):
            doc["tests"] = _rebase("file://" + tests, base, suite_dir)
        doc.yaml_set_start_comment(
            f"Eval suite of the governed prompt {name}, written by 'promptgov import' from\n"
            f"{shown}, which promptfoo still runs unchanged. promptgov://{name} is the\n"
            "version under test; the provider is its declared model."
        )

    return _yaml.edit_roundtrip(data, str(path), edit)


# --------------------------------------------------------------------------- checks and writes


def _refuse_taken(registry: Registry, plans: list[ImportedPrompt]) -> None:
    """A name already governed, a working copy or a suite in the way: nothing is imported."""
    config = registry.repo.config
    for p in plans:
        try:
            registry.entry(p.name)
        except NotFound:
            pass
        else:
            raise Conflict(
                f"{p.name} is already a governed prompt; nothing was imported. Import it "
                f"under another name, or register the change as a new version of {p.name}.",
                cli_hint=f"Name the imported prompt(s) with --name, or change {p.name} with "
                "'promptgov add'.",
            )
        for rel in (p.working_copy, p.suite):
            if registry.repo.path(rel).exists():
                raise Conflict(
                    f"{rel} already exists; nothing was imported. Import under another "
                    "name, or move the file.",
                    cli_hint="Name the imported prompt(s) with --name.",
                )
        if p.name in config.eval_suites:
            raise Conflict(
                f"{CONFIG_FILE} already names an eval suite for {p.name}; nothing was "
                "imported. Import under another name.",
                cli_hint="Name the imported prompt(s) with --name.",
            )


def _header(p: ImportedPrompt, config: str) -> str:
    return (
        f"# The working copy of {p.name}, imported from {config} {p.origin}.\n"
        f"# Edit it, then register the change with 'promptgov add {p.name}' (docs/prompt-yml.md).\n"
    )


def _record(registry: Registry, result: ImportResult, by: str) -> None:
    """Working copies, suites, the policy's suite names and the first versions, in one unit."""
    repo = registry.repo
    raw_config = read_bytes(repo.path(CONFIG_FILE)) or b""

    def name_suites(doc: Any) -> None:
        if doc.get("eval_suites") is None:
            doc["eval_suites"] = {}
        for p in result.prompts:
            doc["eval_suites"][p.name] = p.suite

    with repo.edit() as e:
        for p in result.prompts:
            data = p.source.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
            e.write(p.working_copy, _yaml.dump_document(data, _header(p, result.config)))
            e.write(p.suite, p.suite_bytes)
            stage_add(
                e,
                p.name,
                p.source,
                AddOptions(message=f"imported from {result.config} {p.origin}", version=p.version),
                by=by,
            )
        e.write(CONFIG_FILE, _yaml.edit_roundtrip(raw_config, CONFIG_FILE, name_suites))
    repo.__dict__.pop("config", None)  # promptgov.yml changed: read it again when asked


def _shown(registry: Registry, path: Path) -> str:
    """``path`` relative to the repository when it is inside, else as given."""
    try:
        return path.resolve().relative_to(registry.repo.root.resolve()).as_posix()
    except ValueError:
        return str(path)

"""The CI files ``init`` writes, with the install step taken from ``ci.install`` in promptgov.yml.

No public package index serves promptgov, so a bare ``pip install promptgov`` fails or, worse,
installs whatever someone registered under that name. Each CI file installs the
one requirement the repository pins; ``promptgov docs`` rewrites that line when it changes.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources

import yaml

from . import __version__
from .model import ProjectConfig

#: The CI files and the template each is made from.
FILES = {
    ".github/workflows/promptgov.yml": "github-workflow.yml",
    "ci/gitlab-ci.yml": "gitlab-ci.yml",
}
#: What each template has where the install command goes.
PLACEHOLDER = "@PROMPTGOV_INSTALL@"
#: The comment that marks an install line, so a later ``promptgov docs`` can find and rewrite it.
MARK = "# ci.install in promptgov.yml"
_LINE = re.compile(rf"^(?P<lead>[ \t]*- (?:run: )?).*[ \t]{re.escape(MARK)}$", re.M)


def install_spec(config: ProjectConfig) -> str:
    """The pip requirement CI installs: ``ci.install``, else this promptgov's own version."""
    return config.ci.install or f"promptgov=={__version__}"


def install_line(config: ProjectConfig) -> str:
    """The install command as a YAML scalar, followed by its marking comment."""
    command = f"python -m pip install {shlex.quote(install_spec(config))}"
    return f"{command if _plain(command) else json.dumps(command)}  {MARK}"


def _plain(text: str) -> bool:
    """Whether YAML reads ``text`` back unchanged as a plain scalar followed by a comment."""
    try:
        return bool(yaml.safe_load(f"k: {text}  # c") == {"k": text})
    except yaml.YAMLError:
        return False


def generate(config: ProjectConfig) -> dict[str, bytes]:
    """Every CI file's bytes as ``init`` writes them, keyed by path."""
    root = resources.files("promptgov").joinpath("templates", "base", "ci_templates")
    line = install_line(config)
    return {
        rel: root.joinpath(name).read_text("utf-8").replace(PLACEHOLDER, line).encode()
        for rel, name in FILES.items()
    }


def refresh(text: str, config: ProjectConfig) -> str:
    """``text`` (a CI file, perhaps edited) with each marked install line brought up to date."""
    line = install_line(config)
    return _LINE.sub(lambda m: m["lead"] + line, text)

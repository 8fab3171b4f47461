"""A promptfoo-compatible eval engine: load a promptfoo config, run it, write its results.

::

    from promptgov.evals import load_config, run_eval, RunOptions, write_outputs

    cfg = load_config("promptfooconfig.yaml")
    summary = run_eval(cfg, RunOptions(max_concurrency=8))
    write_outputs(summary, ["out.json", "out.xml", "out.md"])
    raise SystemExit(summary.exit_code())

The engine knows nothing of governed repositories: callers resolve their own prompt
references through ``load_config(..., prompt_resolver=...)``.
"""

from __future__ import annotations

from .config import EvalConfig, Prompt, PromptResolver, ProviderEntry, TestCase, load_config
from .errors import EvalError
from .reporters import write_outputs
from .results import EvalResult, EvalStats, EvalSummary, FailureReason, PromptColumn
from .runner import RunOptions, run_eval, run_eval_async
from .templating import TemplateError, render

__all__ = [
    "EvalConfig",
    "EvalError",
    "EvalResult",
    "EvalStats",
    "EvalSummary",
    "FailureReason",
    "Prompt",
    "PromptColumn",
    "PromptResolver",
    "ProviderEntry",
    "RunOptions",
    "TemplateError",
    "TestCase",
    "load_config",
    "render",
    "run_eval",
    "run_eval_async",
    "write_outputs",
]

"""``promptgov.evals.__all__`` lists exactly the public names, sorted (httpx's guard)."""

from __future__ import annotations

import promptgov.evals as evals


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(evals) if not name.startswith("_")}
    modules = {
        "config",
        "reporters",
        "results",
        "runner",
        "templating",
        "types",
        "assertions",
        "providers",
        "annotations",
        "js",
        "pyworker",
        "errors",
    }
    assert sorted(evals.__all__) == evals.__all__
    assert set(evals.__all__) == public - modules

"""``promptgov.evals.__all__`` lists exactly the public names, sorted (httpx's guard)."""

from __future__ import annotations

import pkgutil

import promptgov.evals as evals


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(evals) if not name.startswith("_")}
    # Submodules become attributes once anything imports them, so which ones show depends
    # on what ran before: leave every one of them out.
    modules = {m.name for m in pkgutil.iter_modules(evals.__path__)} | {"annotations"}
    assert sorted(evals.__all__) == evals.__all__
    assert set(evals.__all__) == public - modules

"""Evidence of the version under test: a governed run evaluates the model the version declares.

A version's ``model.provider`` and ``model.parameters`` are part of its content hash, so
results from another model are no evidence of it. ``promptgov.yml``'s ``evals:`` policy
(:class:`~promptgov.model.EvalPolicy`) says what a governed run does when the suite's
providers for ``promptgov://<name>`` are another model: ``refuse`` (the default) runs
nothing and names both, ``run`` evaluates the version on its declared provider and
parameters (the suite's other prompts keep their providers), ``allow`` runs the suite as
written and records the mismatch. Under ``refuse`` and ``run`` the providers that are the
declared model get its parameters. ``stand_ins`` names providers that may answer in the
declared model's place (a local stub, a self-hosted copy). The gate reads the providers a
run records (:func:`answered`) and fails evidence that contradicts the declared model
unless the policy allows it (:mod:`promptgov.gate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .model import DeclaredModelPolicy, ProjectConfig, PromptContent

if TYPE_CHECKING:
    from .evals.config import EvalConfig, Prompt

__all__ = ["POLICY_HINT", "DeclaredModel", "answered"]

#: How a team lets a governed run evaluate the declared model in the suite's place.
POLICY_HINT = "evals: {declared_model: run} in promptgov.yml"


def _same(a: str, b: str) -> bool:
    from .evals.providers.ids import same_model

    return same_model(a, b)


@dataclass(frozen=True)
class DeclaredModel:
    """The model a version declares, and what the project's policy lets answer for it."""

    provider: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    stand_ins: tuple[str, ...] = ()
    policy: DeclaredModelPolicy = DeclaredModelPolicy.REFUSE

    @classmethod
    def of(cls, config: ProjectConfig, content: PromptContent) -> DeclaredModel:
        """``content``'s declared model under ``config``'s ``evals:`` policy."""
        provider = content.model.provider
        stand_ins = [
            s for key, ids in config.evals.stand_ins.items() if _same(key, provider) for s in ids
        ]
        return cls(
            provider,
            dict(content.model.parameters),
            tuple(stand_ins),
            config.evals.declared_model,
        )

    def is_model(self, provider_id: str) -> bool:
        """``provider_id`` names the declared model (in any of promptfoo's spellings)."""
        return _same(provider_id, self.provider)

    def accepts(self, provider_id: str) -> bool:
        """The declared model, or a stand-in the policy names for it."""
        return self.is_model(provider_id) or any(_same(provider_id, s) for s in self.stand_ins)

    def contradicting(self, provider_ids: Iterable[str]) -> list[str]:
        """The ids that neither are the declared model nor stand in for it, sorted."""
        return sorted({p for p in provider_ids if not self.accepts(p)})

    # ------------------------------------------------------------------ before the run

    def prepare(
        self, cfg: EvalConfig, prompts: Sequence[Prompt], *, suite: str, ref: str
    ) -> EvalConfig:
        """The config a governed run of ``ref`` executes; ``prompts`` are ``ref``'s own.

        Raises:
            InputError: under ``refuse``, the suite answers ``ref`` with another model; under
                ``refuse`` or ``run``, a test names its own provider that is another model.
        """
        from .evals.config.pinning import (
            answering,
            pin,
            provider_entry,
            test_providers,
            with_config,
        )

        if self.policy is DeclaredModelPolicy.ALLOW or not prompts:
            return cfg
        name = ref.partition("@")[0]
        own = self.contradicting(t for p in prompts for t in test_providers(cfg, p))
        if own:
            raise InputError(
                f"{suite} has tests with their own provider ({', '.join(own)}) for "
                f"promptgov://{name}, but {ref} declares {self.provider}. Nothing was run or "
                f"recorded; remove those tests' 'provider:' or make it {self.provider}.",
                declared_model=self.provider,
                providers=own,
            )
        entries = list({id(e): e for p in prompts for e in answering(cfg, p)}.values())
        bad = self.contradicting(e.id for e in entries)
        if bad and self.policy is DeclaredModelPolicy.REFUSE:
            raise InputError(
                f"{suite} evaluates {ref} with {', '.join(bad)}, but {ref} declares "
                f"{self.provider}; nothing was run or recorded. Add {self.provider} to the "
                f"suite's providers (limit the others with 'prompts:'), or set {POLICY_HINT}.",
                declared_model=self.provider,
                providers=bad,
            )
        params = dict(self.parameters)
        models = [e for e in entries if self.is_model(e.id)]
        if not bad and not (models and params):
            return cfg  # already the declared model (or its stand-ins), nothing to apply
        pinned = [
            with_config(e, params if self.is_model(e.id) else {}, prompts)
            for e in entries
            if self.accepts(e.id)
        ]
        return pin(cfg, prompts, pinned or [provider_entry(self.provider, params, prompts)])


def answered(rows: Iterable[tuple[str, str]], label: str) -> list[str]:
    """Provider ids that answered the prompt labelled ``label``, from (prompt label,
    provider id) pairs; every row's provider when none carries that label (imported
    output written by another tool)."""
    pairs = list(rows)
    own = [pid for lab, pid in pairs if lab == label] or [pid for _, pid in pairs]
    return sorted({pid for pid in own if pid})

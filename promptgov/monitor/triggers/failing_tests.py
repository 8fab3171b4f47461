"""The failing-tests trigger: the latest scheduled re-run, judged by today's gate."""

from __future__ import annotations

from ..policy import FailingTestsPolicy, format_duration
from .vocabulary import CheckContext, Subject, TriggerName, TriggerResult, TriggerStatus, result

__all__ = ["FailingTests"]

_HINT = "schedule 'promptgov monitor --run-evals' to re-run the suite on the serving version"


class FailingTests:
    """Fires when the latest scheduled re-run of the serving content fails its gate."""

    name = TriggerName.FAILING_TESTS

    def policy(self, context: CheckContext) -> FailingTestsPolicy:
        """The ``failing_tests`` policy."""
        return context.policies.failing_tests

    def check(self, subject: Subject, context: CheckContext) -> TriggerResult:
        """Today's gate rules applied to the newest scheduled run (within ``window``)."""
        from ...eval_runs import load_run_output
        from ...gate import evaluate_gate, load_gate_config, rows_from_v3

        pol, registry = self.policy(context), context.registry
        runs = [run for run in subject.eval_runs() if run.scheduled]
        if not runs:
            return result(
                self.name,
                pol,
                TriggerStatus.INSUFFICIENT_DATA,
                f"no scheduled re-run of the serving version; {_HINT}",
            )
        run = max(runs, key=lambda r: r.at)
        if pol.window is not None and run.at < context.at - pol.window:
            return result(
                self.name,
                pol,
                TriggerStatus.INSUFFICIENT_DATA,
                f"the last scheduled re-run ({run.run_id}) is older than "
                f"{format_duration(pol.window)}; {_HINT}",
                observation=run.run_id,
            )
        rows = rows_from_v3(load_run_output(registry, run), run.output)
        gate = evaluate_gate(
            rows,
            load_gate_config(registry.repo).rules(subject.name, subject.env),
            env=subject.env,
            prompt=subject.name,
        )
        samples: dict[str, int] = {"results": len(rows)}
        # The gate's own min_results decides by default; an explicit min_samples adds a floor.
        if "min_samples" in pol.model_fields_set and len(rows) < pol.min_samples:
            status = TriggerStatus.INSUFFICIENT_DATA
            summary = (
                f"run {run.run_id} has {len(rows)} results, fewer than min_samples "
                f"{pol.min_samples}"
            )
            samples["min_samples"] = pol.min_samples
        else:
            status = {"pass": TriggerStatus.NOT_FIRED, "fail": TriggerStatus.FIRED}.get(
                gate.verdict.value, TriggerStatus.INSUFFICIENT_DATA
            )
            failed = gate.failed()
            summary = f"gate {gate.verdict.value} on scheduled run {run.run_id}" + (
                ": " + "; ".join(f"{c.name} {c.measured} vs {c.threshold}" for c in failed)
                if failed
                else ""
            )
        return result(
            self.name,
            pol,
            status,
            summary,
            measured={c.name: c.measured for c in gate.checks},
            thresholds={c.name: c.threshold for c in gate.checks},
            samples=samples,
            observation=run.run_id,
            details={"run": run.run_id, "run_at": run.at.isoformat(), "gate": gate.to_dict()},
            evidence=(run.output,),
        )

"""The study as a planner: a pure function from a study and its records to the runs to execute next.

`plan_study` expands the study phase by phase and stops at the first phase whose runs are not all recorded:

1. the initial tuning trials and the defaults arms (`kerasopt.study.expand.first_phase`);
2. bracket extensions, round by round, while a selection lies at an extensible edge (every budget's);
3. per budget, the selection (`selection_record`) and its final runs on the held-out seeds;
4. rounds of added seeds (``more_seeds``) while `kerasopt.stats.verdicts.decide` asks for them.

Its `Plan` lists every role planned so far (``plan.json``) and the runs without a record (``pending``). A study run
is: plan, execute the pending runs, plan again, until nothing is pending (`kerasopt.study.runner.run_study`); a
resume is the same loop, and ``python -m kerasopt.study plan`` prints what it would execute. Records are read
through a `RecordsView` and never written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from kerasopt import records
from kerasopt.results import seed_outcomes
from kerasopt.stats.verdicts import MoreSeeds, decide
from kerasopt.study import expand
from kerasopt.study.expand import PlannedRun
from kerasopt.study.spec import StudySpec
from kerasopt.tasks import Task


class RecordsView:
    """Read-only access to the run records in a study's results directory, for the planner.

    Args:
        out_dir: the results directory.
        task: the study's task (its collapse rule judges completed runs).
    """

    def __init__(self, out_dir: str | Path, task: Task):
        self.out_dir = Path(out_dir)
        self.collapse = task.collapse

    def complete(self, run_id: str) -> bool:
        """Whether the run has its summary (`kerasopt.records.is_complete`)."""
        return records.is_complete(self.out_dir / run_id)

    def outcome(self, run_id: str, metric: str, column: str | None = None,
                budget: int | None = None) -> tuple[str | None, float | None]:
        """``(status, value of metric)`` of a complete run, at ``budget`` of history ``column`` when given
        (`kerasopt.records.outcome`; ValueError of one line naming an unreadable file)."""
        return records.outcome(self.out_dir / run_id, metric, column, budget, self.collapse)


@dataclass
class Plan:
    """The roles a study has planned so far and the runs to execute next.

    Attributes:
        roles: every role planned so far, in order (``plan.json``'s ``runs``).
        pending: the runs (one per run id) without a record: what to execute next; [] when the study is done.
        stage: the phase that ``pending`` belongs to (``tune``, ``bracket extension k``, ``final``,
            ``more seeds k``) or ``done``.
        selection: once tuning is over, what it chose per optimizer (the largest budget's).
        selections: with several budgets, budget -> its selection.
    """

    roles: list[PlannedRun]
    pending: list[PlannedRun] = field(default_factory=list)
    stage: str = "done"
    selection: dict | None = None
    selections: dict | None = None

    def to_dict(self, name: str) -> dict:
        """The content of ``plan.json``."""
        plan = {"study": name, "runs": [run.to_dict() for run in self.roles]}
        if self.selection is not None:
            plan["selection"] = self.selection
        if self.selections is not None:
            plan["selections"] = self.selections
        return plan

    @property
    def unique(self) -> list[PlannedRun]:
        """The first role of each run id, in order."""
        return unique(self.roles)


def unique(runs: Iterable[PlannedRun]) -> list[PlannedRun]:
    """The first role of each run id, in order."""
    first: dict[str, PlannedRun] = {}
    for run in runs:
        first.setdefault(run.run_id, run)
    return list(first.values())


def plan_study(spec: StudySpec, task: Task, view: RecordsView, attempted: Iterable[str] = ()) -> Plan:
    """The study's roles so far and the runs to execute next, from its records (reads only).

    Args:
        spec: the study.
        task: its task (``resolve``, ``target``, ``headline``, ``budget``).
        view: the records (a `RecordsView`, or any object with its ``complete`` and ``outcome``).
        attempted: run ids already executed in this session: counted as done even without a record (a run
            that cannot record is not executed again and again; its outcome is missing).

    Raises:
        ValueError: settings the task rejects, or an unreadable record (one line naming the file).
    """
    attempted = set(attempted)

    def pending(runs: list[PlannedRun]) -> list[PlannedRun]:
        return [run for run in unique(runs) if run.run_id not in attempted and not view.complete(run.run_id)]

    planned = expand.first_phase(spec, task.resolve)
    if todo := pending(planned):
        return Plan(planned, todo, "tune")
    while more := expand.extensions(spec, task.resolve, tuned(planned),
                                    tuning_outcomes(spec, task, view, tuned(planned)), task.target["mode"]):
        planned = planned + more
        if todo := pending(more):
            return Plan(planned, todo, f"bracket extension {more[0].extension}")
    budgets = spec.selection_budgets()
    at_budget = tuning_outcomes(spec, task, view, tuned(planned))
    selections = {b: selection_record(spec, tuned(planned), outcomes, task.target["mode"])
                  for b, outcomes in zip(budgets, at_budget)}
    final = [run for b in budgets for run in expand.final_phase(spec, task.resolve, best_settings(selections[b]), b)]
    chosen = (selections[budgets[-1]], {str(b): s for b, s in selections.items()} if spec.budgets else None)
    if todo := pending(final):
        return Plan(planned + final, todo, "final", *chosen)
    best = best_settings(selections[budgets[-1]])
    while spec.more_seeds and (more := next_seeds(spec, task, view, best, [r for r in final if r.budget == budgets[-1]])):
        final += more
        if todo := pending(more):
            return Plan(planned + final, todo, f"more seeds {more[0].added_round}", *chosen)
    return Plan(planned + final, [], "done", *chosen)


def tuned(runs: list[PlannedRun]) -> list[PlannedRun]:
    """The tuning runs among ``runs``."""
    return [run for run in runs if run.phase == "tune"]


def tuning_outcomes(spec: StudySpec, task: Task, view, tune: list[PlannedRun]) -> list[dict]:
    """Per selection budget (`StudySpec.selection_budgets`), run id -> ``(status, metric)`` of the complete tuning
    runs: at the budget of the task's budget column, the summaries' values at the largest."""
    budgets = spec.selection_budgets()
    column = task.budget.column if spec.budgets else None
    return [{run.run_id: view.outcome(run.run_id, task.target["metric"], column,
                                      None if budget == budgets[-1] else budget)
             for run in tune if view.complete(run.run_id)} for budget in budgets]


def next_seeds(spec: StudySpec, task: Task, view, best: dict, main_final: list[PlannedRun]) -> list[PlannedRun]:
    """The next round of ``more_seeds``: fresh seeds for the optimizers whose verdict against the look-0 leader
    is undecided with a gap that matters, and for the leader (`kerasopt.stats.verdicts.decide`, as the report
    decides); [] when no round is needed. A pure function of the records, so a resumed study plans the same
    rounds."""
    rule = MoreSeeds(**spec.more_seeds)
    outcomes = seed_outcomes(final_outcomes(view, task, main_final),
                             list(dict.fromkeys(run.optimizer for run in main_final)), "value")
    chosen = decide(outcomes, spec.seeds, task.target["mode"], rule).more
    if not chosen:
        return []
    done = max((run.added_round for run in main_final), default=0)
    first = max((*spec.seeds, *spec.tuning_seeds, *spec.defaults_seeds)) + 1 + done * rule.per_round
    return expand.added_seeds(spec, task.resolve, best, chosen, list(range(first, first + rule.per_round)),
                              main_final[0].budget if main_final else None, done + 1)


def final_outcomes(view, task: Task, main_final: list[PlannedRun]) -> pd.DataFrame:
    """The headline outcome of each final run, as rows `kerasopt.results.seed_outcomes` reads (``value``); a
    run without a record counts as failed."""
    rows = []
    for run in main_final:
        status, value = view.outcome(run.run_id, task.headline[0]) if view.complete(run.run_id) else (None, None)
        rows.append({"optimizer": run.optimizer, "phase": "final", "seed": run.seed, "complete": True,
                     "status": status, "value": value})
    return pd.DataFrame(rows, columns=["optimizer", "phase", "seed", "complete", "status", "value"])


def best_settings(selection: dict) -> dict:
    """optimizer -> ``(trial, hparams)`` to rerun: the selected trial, or the fixed setting of an untuned one."""
    return {name: (chosen["trial"], chosen["hparams"]) for name, chosen in selection.items()
            if chosen["trial"] is not None or not chosen["tuned"]}


def selection_record(spec: StudySpec, tune: list[PlannedRun], outcomes: dict, mode: str) -> dict:
    """Per optimizer, what tuning chose and why (``plan.json``'s ``selection``; the report shows it).

    ``{"tuned", "trial", "hparams", "score" (mean over tuning seeds), "trials" (settings tried),
    "extensions" (settings added past an edge), "bracket" ({hyperparameter: status},
    `kerasopt.study.expand.bracket`)}``; ``trial`` is None when nothing was tuned or no trial completed.
    """
    selection = {}
    for optimizer in spec.optimizers:
        mine = [r for r in tune if r.optimizer == optimizer]
        if not mine:
            selection[optimizer] = {"tuned": False, "trial": None, "hparams": expand.untuned_setting(spec, optimizer),
                                    "score": None, "trials": 0, "extensions": 0, "bracket": {}}
            continue
        results = expand.tuning_outcomes(mine, outcomes)
        chosen = expand.select_best(results, mode)
        status, _ = expand.bracket(spec, optimizer, results, mode)
        scores = expand.setting_scores(results)
        selection[optimizer] = {
            "tuned": True, "trial": chosen[0] if chosen else None, "hparams": chosen[1] if chosen else None,
            "score": scores[chosen[0]][1] if chosen else None, "trials": len(scores),
            "extensions": len({r.trial for r in mine if r.extension}), "bracket": status}
    return selection


def expected_total(spec: StudySpec, task: Task, plan: Plan) -> int:
    """The runs the study will have at least: those planned, and before the final phase is planned, one final
    run per optimizer and held-out seed (counted with a stand-in selection)."""
    if plan.selection is not None:
        return len(plan.unique)
    stand_in = {}
    for optimizer in spec.optimizers:
        trial = next((r for r in plan.roles if r.optimizer == optimizer and r.phase == "tune"), None)
        stand_in[optimizer] = (0, trial.hparams) if trial else (None, expand.untuned_setting(spec, optimizer))
    return len(unique(plan.roles + expand.final_phase(spec, task.resolve, stand_in)))

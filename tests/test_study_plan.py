"""The study as a planner: a pure function from a study and its records to the next runs (no training here),
the loop that executes them, and ``python -m kerasopt.study plan``."""

import json
import math

from conftest import OPTIMUM, QuadraticConfig

from kerasopt.study import run_study
from kerasopt.study.__main__ import main as study_main
from kerasopt.study.expand import first_phase
from kerasopt.study.plan import plan_study, unique
from kerasopt.study.runner import dry_run
from kerasopt.study.spec import StudySpec

STUDY = {"name": "planned", "task": "quadratic", "optimizers": ["sgd", "adam"],
         "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
         "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": 3, "seeds": [0]},
         "defaults_arms": ["task_defaults"], "seeds": [1, 2], "more_seeds": {"rounds": 1, "per_round": 2}}


class Records:
    """Records in memory: run id -> (status, loss); what `plan_study` reads through a `RecordsView`."""

    def __init__(self):
        self.outcomes = {}

    def complete(self, run_id):
        return run_id in self.outcomes

    def outcome(self, run_id, metric, column=None, budget=None):
        return self.outcomes[run_id]

    def execute(self, runs):
        """The quadratic task's final loss of each run (`conftest.quadratic_run`), without a run record."""
        for run in runs:
            config = QuadraticConfig.from_dict(run.config)
            rate = config.resolved_hparams()["learning_rate"]
            self.outcomes[run.run_id] = ("completed", 1 + (math.log10(rate) - math.log10(OPTIMUM["value"])) ** 2
                                         + 0.01 * config.seed)


def test_no_records_plan_the_first_phase_and_planning_reads_only(quadratic):
    spec = StudySpec.from_dict(STUDY)
    records = Records()
    plan = plan_study(spec, quadratic, records)
    assert plan.stage == "tune" and plan.pending == unique(first_phase(spec, quadratic.resolve))
    assert plan.selection is None and records.outcomes == {}
    assert plan_study(spec, quadratic, records) == plan  # the same records, the same plan


def test_planning_until_nothing_is_pending_is_the_whole_study_and_equals_what_run_study_records(quadratic,
                                                                                                tmp_path):
    spec = StudySpec.from_dict(STUDY)
    records, stages = Records(), []
    plan = plan_study(spec, quadratic, records)
    while plan.pending:
        stages.append(plan.stage)
        assert not any(records.complete(run.run_id) for run in plan.pending)
        records.execute(plan.pending)
        plan = plan_study(spec, quadratic, records)
    assert stages[0] == "tune" and "final" in stages and stages[-1].startswith(("final", "more seeds"))
    assert plan.stage == "done" and plan.selection and set(plan.selection) == {"sgd", "adam"}
    assert {run.run_id for run in plan.unique} == set(records.outcomes)
    counts = run_study(spec, out_dir=tmp_path, log=lambda line: None)
    assert json.loads((tmp_path / "plan.json").read_text()) == json.loads(json.dumps(plan.to_dict(spec.name)))
    assert counts["executed"] == counts["total"] == len(plan.unique)
    again = run_study(spec, out_dir=tmp_path, log=lambda line: None)  # a resume is planning again
    assert again["executed"] == 0 and again["skipped"] == again["total"]


def test_a_run_that_leaves_no_record_is_not_planned_again_in_the_same_session(quadratic):
    spec = StudySpec.from_dict({**STUDY, "more_seeds": {}})
    records = Records()
    plan = plan_study(spec, quadratic, records)
    lost = plan.pending[0]
    records.execute(plan.pending[1:])
    assert plan_study(spec, quadratic, records).pending == [lost]  # a resume runs it
    assert lost not in plan_study(spec, quadratic, records, attempted={lost.run_id}).pending


def _tree(root):
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_the_plan_command_prints_what_run_would_execute_and_writes_nothing(quadratic, tmp_path, capsys):
    study_file = tmp_path / "planned.yaml"
    study_file.write_text(json.dumps(STUDY))  # JSON is YAML
    out = tmp_path / "out"
    assert study_main(["plan", str(study_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    first = unique(first_phase(StudySpec.from_dict(STUDY), quadratic.resolve))
    assert printed[-1].startswith(f"{len(first)} runs to execute (tune;") and not out.exists()
    assert sum(line.startswith("would run ") for line in printed) == len(first)
    run_study(StudySpec.from_dict(STUDY, source=str(study_file)), out_dir=out, log=lambda line: None)
    before = _tree(out)
    assert study_main(["plan", str(study_file), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 runs to execute"
    assert _tree(out) == before


def test_a_dry_run_refuses_what_run_refuses_in_one_line(quadratic, tmp_path):
    import pytest

    run_study(StudySpec.from_dict(STUDY), out_dir=tmp_path, log=lambda line: None)
    with pytest.raises(ValueError, match="results of a different study"):
        dry_run(StudySpec.from_dict({**STUDY, "seeds": [1, 2, 3]}), tmp_path, log=lambda line: None)
    some = next(p for p in tmp_path.iterdir() if (p / "config.json").is_file())
    (some / "config.json").write_bytes(b"{\xff")
    with pytest.raises(ValueError, match=rf"{some.name}/config.json: unreadable run record"):
        dry_run(StudySpec.from_dict(STUDY), tmp_path, log=lambda line: None)

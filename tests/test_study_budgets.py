"""Anytime answers from one set of runs: a study with several ``budgets`` runs every run to the largest,
selects (and brackets) at each budget from the histories, and shares final runs where selections agree.

The analytic task: at ``e`` evaluations the loss is ``1 + (log10(lr) - log10(10 / e))**2 + 0.01 * seed``,
so the best learning rate falls as the budget grows (1.0 at 10 evaluations, 0.1 at 100), as short
budgets favour large steps."""

import json
import math
from dataclasses import dataclass

import pytest

from kerasopt import records, tasks
from kerasopt.config import TaskConfig
from kerasopt.study import run_study
from kerasopt.study.spec import StudySpec


@dataclass
class AnytimeConfig(TaskConfig):
    KIND = "anytime"
    evaluations: int = 100


OFFSETS = {"sgd": (0.0, 0.3), "adam": (0.1, 0.1), "rmsprop": (0.2, 0.0)}  # (up to 40 evaluations, after)


def anytime_loss(rate: float, evaluations: int, seed: int, optimizer: str = "sgd") -> float:
    offset = OFFSETS[optimizer][0 if evaluations <= 40 else 1]
    return 1 + (math.log10(rate) - math.log10(10 / evaluations)) ** 2 + 0.01 * seed + offset


def anytime_run(config, run_dir, progress=False):
    rate = config.resolved_hparams()["learning_rate"]
    with records.RunRecord(run_dir, config.to_dict(), seed=config.seed) as record:
        for e in range(10, config.evaluations + 1, 10):
            record.log({"step": e, "evaluations": e, "seconds": e / 100,
                        "loss": anytime_loss(rate, e, config.seed, config.optimizer)})
            if rate > 2.0 and e >= 50:  # large rates blow up late: fine at 10 and 40 evaluations, diverged at 100
                return record.finish("diverged", {"loss": None}, error="non-finite loss")
        return record.finish("completed", {"loss": anytime_loss(rate, config.evaluations, config.seed,
                                                                 config.optimizer)})


@pytest.fixture
def anytime(monkeypatch):
    task = tasks.Task("anytime", AnytimeConfig, anytime_run, {"metric": "loss", "mode": "min"}, ("loss",),
                      ("sgd", "adam", "rmsprop"), budget=tasks.Budget("evaluations", "evaluations"))
    monkeypatch.setitem(tasks._BUILT, "anytime", task)
    return task


def study(**changes):
    return StudySpec.from_dict({
        "name": "anytime", "task": "anytime", "optimizers": ["sgd"],
        "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
        "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": 5, "seeds": [0]},
        "defaults_arms": [], "seeds": [1, 2], "budgets": [10, 40, 100], **changes})


def test_each_budget_selects_and_brackets_from_the_histories(anytime, tmp_path):
    spec = study()
    assert spec.base["evaluations"] == 100  # every run goes to the largest budget
    run_study(spec, out_dir=tmp_path, log=lambda line: None)
    plan = json.loads((tmp_path / "plan.json").read_text())
    chosen = {b: s["sgd"] for b, s in plan["selections"].items()}
    # 10 evaluations: optimum 1.0; 40: 0.25 (grid point 0.316); 100: 0.1 -- each bracketed on the grid
    assert {b: c["hparams"]["learning_rate"] for b, c in chosen.items()} == {"10": 1.0, "40": 0.316228, "100": 0.1}
    assert all(c["bracket"] == {"learning_rate": "bracketed"} for c in chosen.values()), chosen
    assert plan["selection"] == plan["selections"]["100"]  # the main answer: the largest budget
    tuned = sorted({r["hparams"]["learning_rate"] for r in plan["runs"] if r["phase"] == "tune"})
    assert tuned == [0.00316228, 0.01, 0.0316228, 0.1, 0.316228, 1.0, 3.16228]  # 3.16 brackets 1.0 at 10
    # the diverged 3.16 run was fine at 10 evaluations: it counts there, worse than 1.0
    assert chosen["10"]["score"] == pytest.approx(anytime_loss(1.0, 10, 0))
    finals = [r for r in plan["runs"] if r["phase"] == "final"]
    assert {(r["budget"], r["seed"]) for r in finals} == {(b, s) for b in (10, 40, 100) for s in (1, 2)}
    assert all(r["hparams"] == chosen[str(r["budget"])]["hparams"] for r in finals)


def test_budgets_that_select_the_same_setting_share_their_final_runs(anytime, tmp_path):
    counts = run_study(study(budgets=[90, 100], seeds=[1, 2, 3]), out_dir=tmp_path, log=lambda line: None)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["selections"]["90"]["sgd"]["hparams"] == plan["selections"]["100"]["sgd"]["hparams"]
    finals = [r for r in plan["runs"] if r["phase"] == "final"]
    assert len(finals) == 6 and len({r["run_id"] for r in finals}) == 3  # two roles, one run each
    tune = len({r["run_id"] for r in plan["runs"] if r["phase"] == "tune"})
    assert counts["total"] == tune + 3


def test_a_study_without_budgets_writes_the_plan_as_before(anytime, tmp_path):
    spec = StudySpec.from_dict({"name": "one", "task": "anytime", "optimizers": ["sgd"], "base": {"evaluations": 40},
                                "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
                                "defaults_arms": [], "seeds": [1]})
    assert "budgets" not in spec.to_dict()
    run_study(spec, out_dir=tmp_path, log=lambda line: None)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert "selections" not in plan and all("budget" not in r for r in plan["runs"])


@pytest.mark.parametrize("changes, message", [
    ({"budgets": [100, 10]}, "increasing"),
    ({"budgets": [100]}, "at least two"),
    ({"budgets": [10, 100], "base": {"evaluations": 50}}, "every run goes to the largest budget"),
])
def test_bad_budgets_are_refused_in_one_line(anytime, changes, message):
    with pytest.raises(ValueError, match=message):
        study(**changes)


def test_budgets_need_a_task_that_can_be_read_at_them(quadratic):
    with pytest.raises(ValueError, match="cannot be read at intermediate budgets"):
        StudySpec.from_dict({"name": "q", "task": "quadratic", "optimizers": ["sgd"], "budgets": [2, 4],
                             "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
                             "seeds": [1]})


def test_a_run_is_read_at_a_budget_from_its_history(tmp_path):
    with records.RunRecord(tmp_path / "run", {}) as record:
        for e, loss in [(3, 9.0), (7, 5.0), (12, 4.0)]:
            record.log({"step": e, "evaluations": e, "seconds": 0.0, "loss": loss})
        record.finish("diverged", {"loss": None})
    assert records.outcome(tmp_path / "run", "loss", "evaluations", 10) == ("completed", 5.0)
    assert records.outcome(tmp_path / "run", "loss", "evaluations", 12) == ("completed", 4.0)
    assert records.outcome(tmp_path / "run", "loss", "evaluations", 20) == ("diverged", None)
    assert records.outcome(tmp_path / "run", "loss") == ("diverged", None)


def test_a_style_run_keeps_its_image_at_each_smaller_budget(tmp_path):
    """The style task: a study with budgets sets snapshot_evaluations; the image within each budget is kept."""
    from kerasopt import tasks as registry
    from kerasopt.style import StyleConfig, run
    from kerasopt.style.workload import budget_image

    spec = StudySpec.from_dict({"name": "s", "task": "style", "optimizers": ["lbfgs", "adam"], "budgets": [4, 8, 12],
                                "base": {"size": 32, "init": "noise"}, "search": {"others": {"learning_rate": 10.0}, "lbfgs": {}},
                                "seeds": [1]})
    assert spec.base["snapshot_evaluations"] == [4, 8] and spec.base["evaluations"] == 12
    assert registry.get("style").describe()["budget_image"].format(budget=4) == budget_image(4)
    for optimizer in ("lbfgs", "adam"):
        config = StyleConfig.from_dict({**spec.base, "optimizer": optimizer, "seed": 1})
        summary = run(config, tmp_path / optimizer)
        assert summary["status"] == "completed"
        for budget in (4, 8):
            assert (tmp_path / optimizer / "artifacts" / budget_image(budget)).is_file()
    assert "snapshot_evaluations" not in StyleConfig.from_dict({"optimizer": "adam"}).to_dict()  # old ids hold


def test_the_report_ranks_at_every_budget_and_says_how_the_ranking_changes(anytime, tmp_path):
    import pandas as pd

    from kerasopt.report import write_report

    spec = study(optimizers=["sgd", "adam", "rmsprop"], search={"others": {"learning_rate": {
        "log_uniform_around_default": [0.3, 3]}}, "rmsprop": {"learning_rate": {"log_uniform": [0.001, 0.1]}}})
    run_study(spec, out_dir=tmp_path, log=lambda line: None)
    report = write_report(tmp_path).read_text()
    assert "## The answer at every budget" in report and "### After 10 evaluations" in report
    assert "at each budget the tuner selected" in report
    at_10 = pd.read_csv(tmp_path / "main_table_at_10.csv")
    at_100 = pd.read_csv(tmp_path / "main_table_at_100.csv")
    assert list(at_10["optimizer"]) == ["sgd", "adam", "rmsprop"]  # offsets 0, 0.1, 0.2 early
    assert list(at_100["optimizer"]) == ["rmsprop", "adam", "sgd"]  # and 0.3, 0.1, 0 late
    assert at_10.iloc[0]["tuned setting"] == "learning_rate=1"  # selected at 10 evaluations
    changes = pd.read_csv(tmp_path / "ranking_changes.csv")
    first_last = changes[changes["budgets"] == "10 → 100"].iloc[0]
    assert first_last["Kendall's tau [95% bootstrap]"].startswith("-1 [")  # the order reversed
    main = pd.read_csv(tmp_path / "main_table.csv")
    assert list(main["optimizer"]) == ["rmsprop", "adam", "sgd"]  # the main answer is the largest budget's


def test_a_report_of_fixed_settings_does_not_claim_a_selection_per_budget(anytime, tmp_path):
    from kerasopt.report import write_report

    spec = study(optimizers=["sgd", "adam"], search={"others": {"learning_rate": 1.0}})
    run_study(spec, out_dir=tmp_path, log=lambda line: None)
    report = write_report(tmp_path).read_text()
    assert "### After 40 evaluations" in report and "the tuner selected" not in report
    assert "each run was read at every budget (one fixed setting per optimizer, not tuned here)" in report


def test_the_summary_counts_a_problem_once_the_study_with_the_most_optimizers(anytime, tmp_path):
    from kerasopt.report.summary import SUMMARY, write_summary

    log = lambda line: None  # noqa: E731
    short = study(name="short", budgets=None, base={"evaluations": 40}, optimizers=["sgd", "adam"])
    run_study(short, out_dir=tmp_path / "short", log=log)
    run_study(study(name="long", optimizers=["sgd", "adam", "rmsprop"]), out_dir=tmp_path / "long", log=log)
    run_study(study(name="narrow", budgets=[10, 40, 200], optimizers=["sgd"]), out_dir=tmp_path / "narrow", log=log)
    text = write_summary([tmp_path / "short", tmp_path / "long", tmp_path / "narrow"], tmp_path / "s").read_text()
    # one problem at 40, 100 and 200 evaluations: long holds the most optimizers, so it answers for all three
    # (narrow's larger budget with one optimizer does not make the problem count twice)
    assert "answered by the study with the most optimizers: `short` (by `long`), `narrow` (by `long`)." in text
    assert "`long` (by" not in text and text.splitlines()[2].startswith("Workloads (one per problem): `long`.")
    assert (tmp_path / "s" / SUMMARY).is_file()

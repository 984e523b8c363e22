"""benchmarks/step_costs.py: interleaved per-optimizer step costs written where reports read them."""

import json

import pytest

from conftest import load_benchmark
from kerasopt.report.load import arm_cost, load_costs

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


@pytest.fixture(scope="module")
def step_costs():
    return load_benchmark("step_costs")


def test_measure_takes_the_median_per_step_over_interleaved_rounds(step_costs, monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(step_costs.time, "perf_counter", lambda: clock["now"])

    def costing(seconds):
        def step():
            clock["now"] += seconds
        return step

    costs = step_costs.measure({"fast": costing(0.1), "slow": costing(0.4)}, rounds=3, steps_per_round=2, warmup=1)
    assert costs == pytest.approx({"fast": 0.1, "slow": 0.4})


def test_a_tiny_defect_study_gets_a_costs_file_reports_can_read(step_costs, tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "defects", "base": {"size": 32, "batch_size": 2, "backbone": "resnet18"},
        "optimizers": ["sgd", "adam"], "search": {"others": {"learning_rate": {"log_uniform": [0.001, 0.1]}}},
        "seeds": [1]}))
    assert step_costs.main([str(study), "--out", str(tmp_path), "--rounds", "1", "--steps", "1"]) == 0
    costs = load_costs(tmp_path)
    assert set(costs) == {"sgd", "adam"} and all(value > 0 for value in costs.values())


def test_steps_that_time_themselves_report_their_own_seconds(step_costs):
    costs = step_costs.measure({"run": lambda: 0.25}, rounds=2, steps_per_round=2, warmup=0)
    assert costs == {"run": 0.25}


def test_a_tiny_style_study_gets_costs_per_evaluation_from_short_runs(step_costs, tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "style", "base": {"size": 32, "evaluations": 4},
        "optimizers": ["adam", "lbfgs"], "search": {"adam": {"learning_rate": {"log_uniform": [1, 10]}},
                                                   "lbfgs": {}}, "seeds": [1]}))
    args = [str(study), "--out", str(tmp_path), "--rounds", "1", "--steps", "1", "--warmup", "1",
            "--style-evaluations", "4"]
    assert step_costs.main(args) == 0
    costs = load_costs(tmp_path)
    assert set(costs) == {"adam", "lbfgs"} and all(0 < value < 60 for value in costs.values())


def test_with_a_plan_each_arms_setting_is_timed_once_and_costed_per_arm(step_costs, tmp_path, monkeypatch):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "style", "base": {"size": 32, "evaluations": 4},
        "optimizers": ["adam", "lbfgs"], "search": {"adam": {"learning_rate": {"log_uniform": [1, 10]}},
                                                   "lbfgs": {"history_size": {"choice": [5, 10, 40]}}},
        "defaults_arms": ["task_defaults", "library_defaults"], "seeds": [1, 2]}))

    def run(optimizer, phase, seed, hparams, defaults="task"):
        config = {"size": 32, "evaluations": 4, "optimizer": optimizer, "hparams": hparams, "seed": seed,
                  "hparam_defaults": defaults}
        return {"optimizer": optimizer, "phase": phase, "seed": seed, "config": config}

    plan = [run("lbfgs", "tune", 0, {"history_size": 5}),  # tuning runs are not an arm: never timed
            run("lbfgs", "final", 1, {"history_size": 40}), run("lbfgs", "final", 2, {"history_size": 40}),
            run("lbfgs", "task_defaults", 1, {}), run("lbfgs", "library_defaults", 1, {}, "library"),
            run("adam", "final", 1, {"learning_rate": 3.0}), run("adam", "task_defaults", 1, {})]
    (tmp_path / "plan.json").write_text(json.dumps({"runs": plan, "selection": {}}))
    timed = []

    def fake_step(settings, evaluations):
        timed.append(settings)
        seconds = 0.25 * (1 + settings["hparams"].get("history_size", 0) / 10) + (settings["hparam_defaults"] == "library")
        return lambda: seconds

    monkeypatch.setitem(step_costs.STEPS, "style", fake_step)
    assert step_costs.main([str(study), "--out", str(tmp_path), "--rounds", "2", "--steps", "1", "--warmup", "0"]) == 0
    assert len(timed) == 5 and all("seed" not in settings for settings in timed)  # one per distinct setting
    costs = load_costs(tmp_path)
    assert costs == {"lbfgs": {"tuned": 1.25, "task_defaults": 0.25, "library_defaults": 1.25},
                     "adam": {"tuned": 0.25, "task_defaults": 0.25}}
    assert arm_cost(costs, "lbfgs", "tuned") == 1.25 and arm_cost(costs, "adam", "library_defaults") is None
    assert json.loads((tmp_path / "costs.json").read_text())["settings"]["lbfgs tuned"]["hparams"] == {"history_size": 40}


def test_costs_written_without_a_plan_serve_every_arm(tmp_path):
    (tmp_path / "costs.json").write_text(json.dumps({"seconds_per_evaluation": {
        "sgd": 0.5, "adam": {"tuned": 1.0, "task_defaults": "nan"}, "rprop": -1, "lion": {"tuned": None}}}))
    costs = load_costs(tmp_path)
    assert costs == {"sgd": 0.5, "adam": {"tuned": 1.0}}
    assert arm_cost(costs, "sgd", "library_defaults") == 0.5 and arm_cost(costs, "rprop", "tuned") is None


def test_with_budgets_the_tuned_arm_is_the_largest_budgets_selection(step_costs, tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "style", "base": {"size": 32}, "budgets": [4, 8], "optimizers": ["lbfgs"],
        "search": {"lbfgs": {"history_size": {"choice": [5, 10, 40]}}}, "seeds": [1]}))
    config = {"size": 32, "evaluations": 8, "optimizer": "lbfgs", "hparam_defaults": "task", "seed": 1}
    plan = [{"optimizer": "lbfgs", "phase": "final", "budget": budget, "seed": 1,
             "config": {**config, "hparams": {"history_size": history}}} for budget, history in ((4, 5), (8, 40))]
    (tmp_path / "plan.json").write_text(json.dumps({"runs": plan}))
    from kerasopt.study import spec as study_spec
    timed = step_costs.settings_to_time(study_spec.load(study), tmp_path)
    assert [(settings["hparams"], users) for settings, users in timed] == [({"history_size": 40}, [("lbfgs", "tuned")])]

"""benchmarks/step_costs.py: interleaved per-optimizer step costs written where reports read them."""

import importlib.util
import json
from pathlib import Path

import pytest

from kerasopt.report.load import load_costs

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "step_costs.py"


@pytest.fixture(scope="module")
def step_costs():
    spec = importlib.util.spec_from_file_location("step_costs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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

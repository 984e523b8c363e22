"""The bracketing tuner: grid values, extension past an edge, stopping on worse/diverged/cap (analytic task)."""

import json
import math

from conftest import OPTIMUM
from kerasopt.study import expand, run_study
from kerasopt.study.spec import Dimension, StudySpec

def study(extensions=3, tuning_seeds=(0, 10)):
    return StudySpec.from_dict({
        "name": "bracket", "task": "quadratic", "optimizers": ["sgd"],
        "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
        "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": extensions, "seeds": list(tuning_seeds)},
        "defaults_arms": [], "seeds": [1, 2]})


def tuned_rates(out_dir):
    plan = json.loads((out_dir / "plan.json").read_text())
    return plan, sorted({r["hparams"]["learning_rate"] for r in plan["runs"] if r["phase"] == "tune"})


def test_bracket_grid_is_anchored_at_the_default_and_half_a_decade_apart():
    rate = Dimension("log_uniform", (0.001, 0.1), default=0.01)
    assert expand.bracket_values(rate, 0.5) == [0.001, 0.00316228, 0.01, 0.0316228, 0.1]
    outside = Dimension("log_uniform", (0.1, 1.0), default=0.01)  # the default is always a trial
    assert expand.bracket_values(outside, 0.5) == [0.01, 0.0316228, 0.1, 0.316228, 1.0]
    history = Dimension("choice", (5, 20, 40), default=10)
    assert expand.bracket_values(history, 0.5) == [5, 10, 20, 40]
    assert expand.next_value(history, 40, +1, 0.5) == 80 and expand.next_value(history, 5, -1, 0.5) == 2
    assert expand.next_value(Dimension("uniform", (0.8, 0.99)), 0.99, +1, 0.5) is None  # a hard range


def test_selection_uses_the_mean_over_tuning_seeds():
    outcomes = [(0, {"lr": 1}, "completed", 1.0), (0, {"lr": 1}, "completed", 5.0),
                (1, {"lr": 2}, "completed", 2.0), (1, {"lr": 2}, "completed", 2.5),
                (2, {"lr": 3}, "completed", 0.1), (2, {"lr": 3}, "diverged", None)]
    assert expand.select_best(outcomes, "min") == (1, {"lr": 2})  # trial 0 wins one seed; trial 2 diverged once


def test_the_tuner_extends_past_an_edge_until_the_target_gets_worse(quadratic, tmp_path):
    run_study(study(), out_dir=tmp_path, log=lambda line: None)
    plan, rates = tuned_rates(tmp_path)
    # initial 0.00316, 0.01, 0.0316; then 0.1, 0.316 (best, the optimum is 0.5) and 1.0 (worse: bracketed)
    assert rates == [0.00316228, 0.01, 0.0316228, 0.1, 0.316228, 1.0]
    chosen = plan["selection"]["sgd"]
    assert chosen["hparams"] == {"learning_rate": 0.316228}
    assert chosen["bracket"] == {"learning_rate": "bracketed"}
    assert (chosen["trials"], chosen["extensions"]) == (6, 3)
    assert {r["seed"] for r in plan["runs"] if r["phase"] == "tune"} == {0, 10}
    finals = [r for r in plan["runs"] if r["phase"] == "final"]
    assert [r["seed"] for r in finals] == [1, 2] and all(r["hparams"] == chosen["hparams"] for r in finals)


def test_the_tuner_stops_where_runs_diverge(quadratic, tmp_path):
    OPTIMUM["diverges_above"] = 0.2
    run_study(study(), out_dir=tmp_path, log=lambda line: None)
    plan, rates = tuned_rates(tmp_path)
    assert rates == [0.00316228, 0.01, 0.0316228, 0.1, 0.316228]
    assert plan["selection"]["sgd"]["hparams"] == {"learning_rate": 0.1}
    assert plan["selection"]["sgd"]["bracket"] == {"learning_rate": "bracketed (above: diverged or failed)"}


def test_the_tuner_stops_at_its_cap_and_says_so(quadratic, tmp_path):
    run_study(study(extensions=1, tuning_seeds=(0,)), out_dir=tmp_path, log=lambda line: None)
    plan, rates = tuned_rates(tmp_path)
    assert rates == [0.00316228, 0.01, 0.0316228, 0.1]
    assert plan["selection"]["sgd"]["bracket"] == {"learning_rate": "upper edge: cap"}


def test_resuming_a_bracketed_study_repeats_nothing(quadratic, tmp_path):
    run_study(study(), out_dir=tmp_path, log=lambda line: None)
    counts = run_study(study(), out_dir=tmp_path, log=lambda line: None)
    assert counts["executed"] == 0 and counts["skipped"] == counts["total"] == 6 * 2 + 2


def bowl_run(config, run_dir, progress=False):
    """A bowl in log learning rate x log weight decay: minimum at lr 0.01, weight decay 0.3."""
    from kerasopt import records

    hp = config.resolved_hparams()
    loss = 1 + (math.log10(hp["learning_rate"]) + 2) ** 2 + (math.log10(hp["weight_decay"]) - math.log10(0.3)) ** 2
    with records.RunRecord(run_dir, config.to_dict(), seed=config.seed) as record:
        record.log({"step": 1, "evaluations": 1, "seconds": 0.1, "loss": loss})
        return record.finish("completed", {"loss": loss})


def test_the_two_dimensional_tuner_extends_until_the_selection_is_inside_both_dimensions(monkeypatch, tmp_path):
    """AdamW's learning rate x weight decay on a 3 x 3 start (0.316x-3.16x the default rate x weight decay
    0.004 / 0.04 / 0.4): the optimum (0.01, 0.3) lies past the upper edge of both; the tuner extends each
    dimension along the selection's line until worse values were tried on both sides."""
    from conftest import QuadraticConfig
    from kerasopt import tasks

    task = tasks.Task("bowl", QuadraticConfig, bowl_run, {"metric": "loss", "mode": "min"}, ("loss",), ("adamw",))
    monkeypatch.setitem(tasks._BUILT, "bowl", task)
    spec = StudySpec.from_dict({
        "name": "bowl", "task": "bowl", "optimizers": ["adamw"], "defaults_arms": [], "seeds": [1],
        "search": {"adamw": {"learning_rate": {"log_uniform_around_default": [0.316, 3.16]},
                             "weight_decay": {"choice": [0.004, 0.04, 0.4]}}},
        "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": 2, "seeds": [0]}})
    run_study(spec, out_dir=tmp_path, log=lambda line: None)
    plan = json.loads((tmp_path / "plan.json").read_text())
    chosen = plan["selection"]["adamw"]
    assert chosen["hparams"] == {"learning_rate": 0.01, "weight_decay": 0.4}
    assert chosen["bracket"] == {"learning_rate": "bracketed", "weight_decay": "bracketed"}
    tried = [r["hparams"] for r in plan["runs"] if r["phase"] == "tune"]
    for name in ("learning_rate", "weight_decay"):
        line = sorted({h[name] for h in tried if all(h[o] == chosen["hparams"][o] for o in h if o != name)})
        assert line[0] < chosen["hparams"][name] < line[-1], (name, line)
    assert chosen["trials"] == 9 + chosen["extensions"] and chosen["extensions"] <= 6

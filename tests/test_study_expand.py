"""Expansion: trial settings (quasi-random, grid), run ids, selection, phases."""

import math

import pytest

from kerasopt.study import expand
from kerasopt.study.spec import Dimension, StudySpec

LR = Dimension("log_uniform", (1e-3, 1e1))


def make_spec(**changes):
    fields = dict(name="demo", task="style", base={"size": 32}, optimizers=("adam", "lbfgs"),
                  spaces={"adam": {"learning_rate": LR}, "lbfgs": {}}, trials=3, sampler="quasirandom",
                  tuning_seeds=(0,), defaults_arms=("task_defaults", "library_defaults"), defaults_seeds=(1, 2),
                  seeds=(1, 2, 3), targets=())
    fields.update(changes)
    return StudySpec(**fields)


def identity(settings):
    return settings


def test_run_id_is_a_stable_hash_of_task_and_settings():
    config = {"optimizer": "adam", "hparams": {"learning_rate": 0.1}, "seed": 0}
    assert expand.run_id("style", config) == expand.run_id("style", dict(reversed(list(config.items()))))
    assert len(expand.run_id("style", config)) == 12
    assert expand.run_id("style", config) != expand.run_id("defects", config)
    assert expand.run_id("style", config) != expand.run_id("style", {**config, "seed": 1})


def test_quasirandom_trials_are_seeded_in_range_and_spread():
    space = {"learning_rate": LR, "beta_1": Dimension("uniform", (0.8, 0.99)), "amsgrad": Dimension("fixed", (True,))}
    trials = expand.trial_settings(space, 8, "quasirandom", seed=0)
    assert trials == expand.trial_settings(space, 8, "quasirandom", seed=0)
    assert trials != expand.trial_settings(space, 8, "quasirandom", seed=1)
    assert len(trials) == 8 and all(t["amsgrad"] is True for t in trials)
    rates = sorted(t["learning_rate"] for t in trials)
    assert 1e-3 <= rates[0] and rates[-1] <= 10
    # a low-discrepancy sequence covers every quarter of the log range with 8 points
    quarters = {min(int((math.log10(r) + 3) / 4 * 4), 3) for r in rates}
    assert quarters == {0, 1, 2, 3}
    assert all(0.8 <= t["beta_1"] <= 0.99 for t in trials)


def test_grid_trials_are_log_spaced_with_endpoints():
    trials = expand.trial_settings({"learning_rate": LR}, 3, "grid", seed=0)
    assert [t["learning_rate"] for t in trials] == pytest.approx([1e-3, 0.1, 10.0])
    two = expand.trial_settings({"learning_rate": LR, "history": Dimension("choice", (5, 10))}, 4, "grid", 0)
    pairs = sorted((round(t["learning_rate"], 9), t["history"]) for t in two)
    assert pairs == [(1e-3, 5), (1e-3, 10), (10.0, 5), (10.0, 10)]
    with pytest.raises(ValueError, match="tuning.trials: 5 cannot be a full grid"):
        expand.trial_settings({"learning_rate": LR, "beta_1": Dimension("uniform", (0.8, 0.9))}, 5, "grid", 0)


def test_space_without_searched_dimension_has_no_trials():
    assert expand.trial_settings({}, 8, "quasirandom", 0) == []
    assert expand.trial_settings({"history_size": Dimension("fixed", (5,))}, 8, "grid", 0) == []


def test_select_best_skips_failed_and_non_finite_and_breaks_ties_by_trial():
    trials = [(0, {"lr": 1}, "completed", 5.0), (1, {"lr": 2}, "diverged", 1.0), (2, {"lr": 3}, "completed", 3.0),
              (3, {"lr": 4}, "completed", float("nan")), (4, {"lr": 5}, "failed", None),
              (5, {"lr": 6}, "completed", 3.0)]
    assert expand.select_best(trials, "min") == (2, {"lr": 3})
    assert expand.select_best(trials, "max") == (0, {"lr": 1})
    assert expand.select_best([(0, {}, "failed", None)], "min") is None


def test_phases_share_runs_with_identical_settings():
    spec = make_spec()
    first = expand.first_phase(spec, identity)
    tune = [r for r in first if r.phase == "tune"]
    task_defaults = [r for r in first if r.phase == "task_defaults"]
    library = [r for r in first if r.phase == "library_defaults"]
    assert [r.optimizer for r in tune] == ["adam"] * 3 and all(r.seed == 0 for r in tune)
    assert len(task_defaults) == 4 and all(r.hparams == {} and r.config["hparam_defaults"] == "task"
                                           for r in task_defaults)
    assert len(library) == 4 and all(r.config["hparam_defaults"] == "library" for r in library)
    final = expand.final_phase(spec, identity, {"adam": (tune[1].trial, tune[1].hparams),
                                                "lbfgs": (None, expand.untuned_setting(spec, "lbfgs"))})
    assert len(final) == 6 and {r.seed for r in final} == {1, 2, 3}
    first_ids = {r.run_id for r in first}
    # held-out seeds: no final run is a tuning run; lbfgs (nothing to tune) reuses its task-defaults runs
    assert not {r.run_id for r in final} & {r.run_id for r in tune}
    assert [r.run_id in first_ids for r in final] == [False, False, False, True, True, False]
    assert final[0].trial == 1
    assert final[0].config == {"size": 32, "optimizer": "adam", "hparams": tune[1].hparams, "seed": 1,
                               "hparam_defaults": "task"}


def test_resolver_errors_name_the_base_setting():
    def reject(settings):
        raise ValueError("unknown style setting(s) sise")

    with pytest.raises(ValueError, match=r"^base: unknown style setting\(s\) sise \(optimizer 'adam'\)"):
        expand.first_phase(make_spec(), reject)

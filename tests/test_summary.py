"""The cross-workload summary: performance profile and benchmark score, and tuning-cost curves, by hand."""

import math

import pytest

from kerasopt.report import summary


def test_profile_and_score_of_a_hand_computed_three_workload_example():
    # times to target: workload A: a 10, b 20, c inf; B: a 30, b 15, c 45; C: a 8, b 8 (c did not run there)
    times = {"A": {"a": 10.0, "b": 20.0, "c": math.inf},
             "B": {"a": 30.0, "b": 15.0, "c": 45.0},
             "C": {"a": 8.0, "b": 8.0}}
    ratios = {w: summary.ratios(t) for w, t in times.items()}
    assert ratios["A"] == {"a": 1.0, "b": 2.0, "c": math.inf}
    assert ratios["B"] == {"a": 2.0, "b": 1.0, "c": 3.0}
    rho = summary.profile(ratios, [1.0, 2.0, 3.0, 4.0])
    assert rho["a"] == [2 / 3, 1.0, 1.0, 1.0] and rho["b"] == [2 / 3, 1.0, 1.0, 1.0]
    assert rho["c"] == [0.0, 0.0, 0.5, 0.5]  # ran in two workloads: B within 3x, A never
    # score = mean over workloads of (4 - r) / 3: a: (3 + 2 + 3) / 3 / 3; c: (0 + 1) / 2 / 3
    scores = summary.scores(ratios)
    assert scores["a"] == pytest.approx(8 / 9) and scores["b"] == pytest.approx(8 / 9)
    assert scores["c"] == pytest.approx(1 / 6)


def test_the_expected_best_after_k_tuning_trials_of_a_hand_computed_example():
    values = [3.0, 1.0, 2.0, None]  # losses of four settings, one failed
    # k = 1: the mean with the failure at +inf -> inf; k = 2 of 4: pairs (6): best 1 in 3 pairs, 2 in 2, 3 in 1
    assert summary.expected_best_of_k(values, 2, "min") == pytest.approx((3 * 1.0 + 2 * 2.0 + 1 * 3.0) / 6)
    assert summary.expected_best_of_k(values, 3, "min") == pytest.approx((3 * 1.0 + 1 * 2.0) / 4)
    assert summary.expected_best_of_k(values, 4, "min") == 1.0
    assert summary.expected_best_of_k([0.5, 0.7, 0.6], 2, "max") == pytest.approx((2 * 0.7 + 0.6) / 3)
    low, high = summary.best_of_k_interval([3.0, 1.0, 2.0, 4.0], 2, "min", resamples=400)
    assert low == 1.0 and high == 3.0


def test_summary_of_two_studies_from_their_records(quadratic, tmp_path):
    """End to end on the analytic task: two studies, the summary's tables and a report that regenerates."""
    import pandas as pd

    from conftest import OPTIMUM
    from kerasopt.study import run_study
    from kerasopt.study.__main__ import main
    from kerasopt.study.spec import StudySpec

    for name, optimum in (("one", 0.5), ("two", 0.05)):
        OPTIMUM["value"] = optimum
        run_study(StudySpec.from_dict({
            "name": name, "task": "quadratic", "optimizers": ["sgd", "adam"],
            "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
            "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": 3, "seeds": [0]},
            "seeds": [1, 2]}), out_dir=tmp_path / name, log=lambda line: None)
    assert main(["summary", str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "s")]) == 0
    scores = pd.read_csv(tmp_path / "s" / "scores.csv")
    assert set(scores["optimizer"]) == {"sgd", "adam"} and (scores["workloads run"] == 2).all()
    tuning = pd.read_csv(tmp_path / "s" / "tuning_cost.csv")
    assert set(tuning["workload"]) == {"one", "two"}
    first = (tmp_path / "s" / "summary.md").read_text()
    main(["summary", str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "s")])
    assert (tmp_path / "s" / "summary.md").read_text() == first  # regenerates identically

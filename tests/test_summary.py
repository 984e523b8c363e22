"""The cross-workload summary: performance profile and benchmark score, and tuning-cost curves, by hand."""

import json
import math

import pytest

from kerasopt.report import summary
from kerasopt.stats import profiles


def test_profile_and_score_of_a_hand_computed_three_workload_example():
    # times to target: workload A: a 10, b 20, c inf; B: a 30, b 15, c 45; C: a 8, b 8 (c did not run there)
    times = {"A": {"a": 10.0, "b": 20.0, "c": math.inf},
             "B": {"a": 30.0, "b": 15.0, "c": 45.0},
             "C": {"a": 8.0, "b": 8.0}}
    ratios = {w: profiles.ratios(t) for w, t in times.items()}
    assert ratios["A"] == {"a": 1.0, "b": 2.0, "c": math.inf}
    assert ratios["B"] == {"a": 2.0, "b": 1.0, "c": 3.0}
    rho = profiles.profile(ratios, [1.0, 2.0, 3.0, 4.0])
    assert rho["a"] == [2 / 3, 1.0, 1.0, 1.0] and rho["b"] == [2 / 3, 1.0, 1.0, 1.0]
    assert rho["c"] == [0.0, 0.0, 1 / 3, 1 / 3]  # B within 3x; A a miss; C not run: a miss too
    # score = mean over every workload of (4 - r) / 3: a: (3 + 2 + 3) / 3 / 3; c: (0 + 1 + 0) / 3 / 3
    scores = profiles.scores(ratios)
    assert scores["a"] == pytest.approx(8 / 9) and scores["b"] == pytest.approx(8 / 9)
    assert scores["c"] == pytest.approx(1 / 9)  # 1/6 if scored only where it ran: that favoured the absent


def test_the_expected_best_after_k_tuning_trials_of_a_hand_computed_example():
    values = [3.0, 1.0, 2.0, None]  # losses of four settings, one failed
    # k = 1: the mean with the failure at +inf -> inf; k = 2 of 4: pairs (6): best 1 in 3 pairs, 2 in 2, 3 in 1
    assert profiles.expected_best_of_k(values, 2, "min") == pytest.approx((3 * 1.0 + 2 * 2.0 + 1 * 3.0) / 6)
    assert profiles.expected_best_of_k(values, 3, "min") == pytest.approx((3 * 1.0 + 1 * 2.0) / 4)
    assert profiles.expected_best_of_k(values, 4, "min") == 1.0
    assert profiles.expected_best_of_k([0.5, 0.7, 0.6], 2, "max") == pytest.approx((2 * 0.7 + 0.6) / 3)
    low, high = profiles.best_of_k_interval([3.0, 1.0, 2.0, 4.0], 2, "min", resamples=400)
    assert low == 1.0 and high == 3.0


def test_summary_of_two_studies_from_their_records(quadratic, tmp_path):
    """End to end on the analytic task: two studies, the summary's tables and a report that regenerates."""
    import pandas as pd

    from conftest import OPTIMUM
    from kerasopt.study import run_study
    from kerasopt.study.__main__ import main
    from kerasopt.study.spec import StudySpec

    for name, optimum, base in (("one", 0.5, {}), ("two", 0.05, {"decay_norm_and_bias": False})):  # two problems
        OPTIMUM["value"] = optimum
        run_study(StudySpec.from_dict({
            "name": name, "task": "quadratic", "optimizers": ["sgd", "adam"], "base": base,
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
    finals = [e["run_id"] for e in json.loads((tmp_path / "two" / "plan.json").read_text())["runs"]
              if e["phase"] == "final"]
    (tmp_path / "two" / finals[0] / "summary.json").unlink()  # a study still running is left out, and said so
    main(["summary", str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "s")])
    assert "Left out, not finished: `two` (" in (tmp_path / "s" / "summary.md").read_text()
    assert (pd.read_csv(tmp_path / "s" / "scores.csv")["workloads run"] == 1).all()


def test_a_folder_stands_for_every_study_recorded_below_it_in_sorted_order(tmp_path):
    for folder in ("b/records", "a/records", "a/companion/records"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "study.json").write_text("{}")
    (tmp_path / "a" / "records" / "run").mkdir()
    assert summary.studies_in([tmp_path]) == [tmp_path / "a/companion/records", tmp_path / "a/records",
                                              tmp_path / "b/records"]
    assert summary.studies_in([tmp_path / "b/records"]) == [tmp_path / "b/records"]
    with pytest.raises(ValueError, match="holds no study"):
        summary.studies_in([tmp_path / "a" / "records" / "run"])


def test_settings_to_beat_the_defaults_arm_by_hand():
    import pandas as pd

    curve = pd.DataFrame({"k": [1, 2, 3], "expected best": [5.0, 3.0, 2.0]})
    assert summary.settings_to_beat(curve, 2.5, "min") == "3"
    assert summary.settings_to_beat(curve, 1.0, "min") == "never"
    assert summary.settings_to_beat(curve, math.nan, "min") == "—"
    assert summary.settings_to_beat(curve, 4.0, "max") == "1"


def workload(name, problem="p", budget=100.0, optimizers=("a", "b"), tuned=True):
    return summary.Workload(name, "min", {o: {1: 1.0} for o in optimizers}, {}, problem=problem, budget=budget,
                            optimizers=tuple(optimizers), tuned=tuned)


def test_a_problem_is_one_workload_whatever_its_budgets():
    """The 100- and 1000-evaluation studies of one problem: the one with the most optimizers counts (not the
    larger budget with fewer optimizers, which let one problem count twice); equal rosters: the larger budget."""
    small, large, other = workload("s100", budget=100, optimizers="abc"), workload("s1000", budget=1000), \
        workload("x", problem="q")
    assert summary.one_per_problem([small, large, other]) == {"s1000": "s100"}
    assert summary.one_per_problem([workload("s100"), workload("s1000", budget=1000)]) == {"s100": "s1000"}


def test_declared_targets_give_the_target_and_a_second_level(quadratic, tmp_path):
    from kerasopt.study import run_study
    from kerasopt.study.spec import StudySpec

    run_study(StudySpec.from_dict({
        "name": "t", "task": "quadratic", "optimizers": ["sgd"], "targets": [3.5, 2.5],
        "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
        "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": 3, "seeds": [0]},
        "seeds": [1, 2]}), out_dir=tmp_path / "t", log=lambda line: None)
    w = summary.load_workload(tmp_path / "t")
    assert (w.target, w.second_target) == (2.5, 3.5)  # loss: the strictest is the lowest
    # selected lr 0.316: final loss 1 + (log10 0.316 - log10 0.5)**2 + 0.01 seed = 1.05; step k logs final + 4 - k
    # (4.05, 3.05, 2.05, 1.05) at 2k evaluations: 2.5 first at step 3 (6 evaluations), 3.5 at step 2 (4)
    assert w.spent["sgd"] == {1: 6.0, 2: 6.0} and w.spent_second["sgd"] == {1: 4.0, 2: 4.0}


def test_defaults_against_tuned_picks_on_tuning_seeds_and_judges_on_held_out_ones():
    """b's defaults did best on the tuning seeds (0.2 < 0.3) although a's defaults are better held out: b is
    the pick; it is judged on its defaults seeds 1-3 against each tuned arm there; c's tuned arm is its
    defaults arm (the same runs) and is named."""
    w = summary.Workload("w", "min", {"a": {1: 1.0, 2: 1.0, 3: 1.0, 4: 9.0}, "b": {1: 3.0, 2: 3.0, 3: 3.0},
                                      "c": {1: 2.5, 2: 2.5, 3: 2.5}}, {}, defaults_arm="task_defaults",
                         pick_scores={"a": 0.3, "b": 0.2, "c": math.nan},
                         defaults_by_seed={"a": {1: 0.5, 2: 0.5, 3: 0.5}, "b": {1: 2.0, 2: 2.0, 3: None},
                                           "c": {1: 2.5, 2: 2.5, 3: 2.5}}, same_run=["c"])
    row = summary.defaults_versus_tuned([w]).iloc[0]
    assert row["picked on tuning seeds"] == "b" and row["judged on seeds"] == "1 2 3"
    assert row["median at defaults"] == 2.0  # (2, 2, failed -> worst)
    assert row["best tuned there"] == "a" and row["its median"] == 1.0  # seed 4 is not among the judged seeds
    assert row["tuned optimizers better than the pick"] == "1 of 3" and row["tuned arm = defaults arm"] == "c"
    none = summary.Workload("v", "min", {"a": {1: 1.0}}, {}, defaults_by_seed={"a": {1: 2.0}},
                            pick_scores={"a": math.nan})
    assert "no fair pick" in summary.defaults_versus_tuned([none]).iloc[0]["picked on tuning seeds"]


def test_the_coverage_simulation_knows_the_true_score():
    from conftest import load_benchmark

    bench = load_benchmark("summary_coverage")
    medians = bench.true_medians(3, 2, seed=0)
    result = bench.coverage(simulations=3, resamples=30, optimizers=3, workloads=2, seed=0)
    truth = profiles.scores({f"w{w}": profiles.ratios({f"o{i}": m for i, m in enumerate(row)})
                            for w, row in enumerate(medians)})
    assert {n: r["true"] for n, r in result.items()} == truth
    # o0..o2 on two workloads: the fastest on both would score 1; here the best is below 1 unless it wins both
    assert all(0.0 <= t <= 1.0 for t in truth.values())
    assert all(0.0 <= r["coverage"] <= 1.0 and 0.0 <= r["mean estimate"] <= 1.0 for r in result.values())


@pytest.mark.parametrize("protocol", [summary.MODERN, summary.CONSTANT])
def test_time_scores_under_a_decaying_schedule_are_marked_as_context(protocol, tmp_path):
    """The 2026 protocol's section says its time scores read crossings inside decaying runs; the constant one does not."""
    timed = summary.Workload("w", "min", {"a": {1: 1.0}}, {"a": {1: 3.0}}, target=2.0, protocol=protocol)
    table = summary.score_table([timed])
    text = "\n".join(summary.protocol_section(protocol, [timed], table, lambda t: t, tmp_path))
    assert (summary.DECAYED_TIME_CAVEAT in text) == (protocol == summary.MODERN)

"""Statistics (`kerasopt.stats`) against hand-computed cases: bootstrap CI, time-to-target, curve bands, tests."""

import math

import numpy as np
import pytest

from kerasopt.stats import band, bootstrap_ci, holm, mean_interval, median_cost, paired, paired_difference, reaches, \
    t_interval, t_p_value, time_to_target


def test_bootstrap_ci_of_two_values_spans_both():
    # resample means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4:
    # the 2.5th percentile lies in the mass at 0, the 97.5th in the mass at 1
    assert bootstrap_ci([0.0, 1.0]) == (0.5, 0.0, 1.0)


def test_bootstrap_ci_binomial_case():
    # resample mean of [0, 0, 0, 1] is K/4 with K ~ Binomial(4, 1/4):
    # P(K=0) = 0.316 > 0.025, P(K<=2) = 0.949 < 0.975 < P(K<=3) = 0.996
    assert bootstrap_ci([0, 0, 0, 1]) == (0.25, 0.0, 0.75)


def test_bootstrap_ci_matches_normal_theory_for_a_large_sample():
    data = np.random.default_rng(1).normal(10.0, 2.0, 400)
    mean, low, high = bootstrap_ci(data)
    half = 1.96 * data.std() / math.sqrt(data.size)
    assert mean == pytest.approx(data.mean())
    assert low == pytest.approx(mean - half, abs=0.1 * half) and high == pytest.approx(mean + half, abs=0.1 * half)


def test_bootstrap_ci_degenerate_cases():
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert bootstrap_ci([3.5]) == (3.5, 3.5, 3.5)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert bootstrap_ci([1.0, 4.0], seed=0) == bootstrap_ci([1.0, 4.0], seed=0)


def history(losses, metric="loss"):
    return [{"step": float(i), "evaluations": 2.0 * i, "seconds": 0.5 * i, metric: v} for i, v in enumerate(losses)]


def test_time_to_target_is_the_first_row_that_reaches_it():
    rows = history([10.0, 7.0, None, 4.0, 6.0, 2.0])
    assert time_to_target(rows, "loss", 5.0, "min") == {"step": 3.0, "evaluations": 6.0, "seconds": 1.5}
    assert time_to_target(rows, "loss", 7.0, "min") == {"step": 1.0, "evaluations": 2.0, "seconds": 0.5}
    assert time_to_target(rows, "loss", 1.0, "min") == {"step": math.inf, "evaluations": math.inf,
                                                       "seconds": math.inf}


def test_time_to_target_for_a_metric_to_maximise():
    rows = history([0.1, 0.3, float("nan"), 0.8], metric="val_dice")
    assert time_to_target(rows, "val_dice", 0.3, "max")["step"] == 1.0
    assert time_to_target(rows, "val_dice", 0.5, "max")["evaluations"] == 6.0
    assert reaches(0.5, 0.5, "max") and not reaches(0.5, 0.4, "min")


def test_median_cost_counts_unreached_seeds_as_infinite():
    assert median_cost([4.0, 6.0, math.inf]) == 6.0
    assert median_cost([4.0, math.inf, math.inf]) == math.inf
    assert math.isnan(median_cost([]))


def test_band_uses_the_overlap_of_the_curves():
    grid, mean, low, high = band([([0, 10], [0, 10]), ([2, 8], [4, 16])], points=4)
    np.testing.assert_allclose(grid, [2, 4, 6, 8])
    np.testing.assert_allclose(low, [2, 4, 6, 8])  # y = x
    np.testing.assert_allclose(high, [4, 8, 12, 16])  # y = 2x
    np.testing.assert_allclose(mean, [3, 6, 9, 12])
    assert band([([0, 1], [1, 1]), ([2, 3], [1, 1])]) is None


def test_t_interval_hand_computed():
    # mean 2, s = 1, n = 3: half width t_{0.975, 2} * 1 / sqrt(3) = 4.302653 / 1.732051
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - 2.484138, 2.0 + 2.484138), abs=1e-5)
    assert t_interval([]) == pytest.approx((math.nan,) * 3, nan_ok=True)
    single = t_interval([4.0])
    assert single[0] == 4.0 and math.isnan(single[1]) and math.isnan(single[2])


@pytest.mark.parametrize("n", [2, 3, 5])
def test_interval_of_the_mean_covers_95_percent_with_few_seeds(n):
    """Simulate many small studies from a known distribution: the interval must contain the true mean
    in 93-97% of them (the old percentile bootstrap gave 0.50, 0.75, 0.85 at n = 2, 3, 5)."""
    rng = np.random.default_rng(n)
    studies = rng.normal(10.0, 3.0, size=(4000, n))
    covered = [low <= 10.0 <= high for low, high in (mean_interval(s)[1:] for s in studies)]
    assert 0.93 <= np.mean(covered) <= 0.97
    bootstrap = [bootstrap_ci(s, n_resamples=400)[1] <= 10.0 <= bootstrap_ci(s, n_resamples=400)[2]
                 for s in studies[:300]]
    assert np.mean(bootstrap) < 0.9  # why the bootstrap is not used at this n


def test_paired_difference_uses_shared_seeds_only():
    mean, low, high, pairs = paired_difference({1: 4.0, 2: 4.5, 3: 5.0, 9: 100.0}, {1: 1.0, 2: 2.0, 3: 3.0})
    assert pairs == 3 and mean == pytest.approx(2.5)
    half = 4.302653 * 0.5 / math.sqrt(3)
    assert (low, high) == pytest.approx((2.5 - half, 2.5 + half), abs=1e-5)
    p = t_p_value(paired({1: 4.0, 2: 4.5, 3: 5.0, 9: 100.0}, {1: 1.0, 2: 2.0, 3: 3.0}))  # the one paired t p-value
    assert p == pytest.approx(0.0130725, abs=1e-6)  # t = 2.5 / (0.5 / sqrt(3)) = 8.660, 2 df
    assert t_p_value(paired({1: 4.0, 2: 4.5, 3: 5.0}, {1: 1.0, 2: 2.0, 3: 3.0}), side=1) == pytest.approx(p / 2)


def test_holm_adjustment_matches_a_hand_computed_example():
    # sorted p: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06, monotone), 0.04 (x1 = 0.04 -> 0.06)
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, math.nan, 0.01]) == pytest.approx([0.5, math.nan, 0.02], nan_ok=True)
    # 0.01 x3 = 0.03, 0.02 x2 = 0.04, 0.04 x1 = 0.04: Holm rejects all three at 5%, where Bonferroni
    # (0.03, 0.06, 0.12) rejects only the first
    assert holm([0.01, 0.02, 0.04]) == pytest.approx([0.03, 0.04, 0.04])

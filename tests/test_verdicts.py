"""Verdicts "worse than the best?": their false-verdict rate by simulation, and hand-checked cases."""

import math

import numpy as np
import pytest

from kerasopt.stats.paired import paired, t_p_value
from kerasopt.stats.simulation import naive_holm_rate, simulate
from kerasopt.stats.verdicts import MoreSeeds, all_pairs_worse, next_round, verdict_text, verdicts, worse_by

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


def test_the_old_test_against_a_data_chosen_best_overstates_worse_verdicts():
    """10 equal optimizers, 5 seeds: Holm over the tests against the best-ranked one (chosen from the same
    seeds) declares something worse in about 10% of studies, twice the nominal 5%."""
    assert naive_holm_rate(studies=1500, seed=1) > 0.07


def test_the_sequential_procedure_keeps_false_worse_verdicts_at_or_below_five_percent():
    """1000 simulated studies under the global null (10 equal optimizers), 5 configured seeds and up to
    two rounds of 5 more seeds for every undecided optimizer (min_difference 0: the most looks)."""
    rule = MoreSeeds(rounds=2, per_round=5, max_seeds=15, min_difference=0.0)
    result = simulate(k=10, seeds=5, rule=rule, studies=1000, seed=2)
    assert result["false_verdict_rate"] <= 0.05, result
    assert max(result["mean_seeds"]) > 10  # seeds were added


def test_added_seeds_decide_a_real_gap_the_configured_seeds_cannot():
    """One optimizer 2 SD worse than nine equal ones: 5 seeds decide it in 29% of studies, up to three
    rounds of 5 more seeds in 95%."""
    without = simulate(k=10, seeds=5, rule=MoreSeeds(), studies=300, gaps=(0,) * 9 + (2.0,), seed=3)
    more = simulate(k=10, seeds=5, rule=MoreSeeds(rounds=3, per_round=5, max_seeds=20, min_difference=0.5),
                    studies=300, gaps=(0,) * 9 + (2.0,), seed=3)
    assert without["power"][9] < 0.4 and more["power"][9] > 0.85, (without["power"][9], more["power"][9])
    assert more["false_verdict_rate"] <= 0.05


def test_one_sided_and_two_sided_paired_p_values():
    d = np.array([1.0, 2.0, 3.0])  # mean 2, sd 1, t = 2 * sqrt(3) = 3.464, 2 df
    assert t_p_value(d) == pytest.approx(0.0742, abs=1e-3)
    assert t_p_value(d, 1) == pytest.approx(0.0371, abs=1e-3)
    assert t_p_value(d, -1) == pytest.approx(1 - 0.0371, abs=1e-3)
    assert t_p_value(np.array([0.5, 0.5]), 1) == 0.0 and math.isnan(t_p_value(np.array([1.0])))


def test_look_zero_names_the_optimizer_each_loser_is_worse_than():
    values = {"a": {1: 10.0, 2: 11.0, 3: 12.0, 4: 10.5},
              "b": {1: 1.0, 2: 1.1, 3: 1.2, 4: 0.9},
              "c": {1: 10.2, 2: 10.9, 3: 12.1, 4: 10.6}}
    assert all_pairs_worse(values, "max", 0.05) == {"b": "c"} or all_pairs_worse(values, "max", 0.05) == {"b": "a"}
    assert set(all_pairs_worse(values, "min", 0.05)) <= {"a", "c"}


def test_an_undecided_optimizer_gets_seeds_only_while_its_gap_matters_and_below_the_cap():
    configured = {name: {1, 2, 3} for name in ("best", "close", "far")}
    values = {"best": {1: 1.0, 2: 1.2, 3: 0.9}, "close": {1: 1.0, 2: 1.1, 3: 0.95},
              "far": {1: 0.5, 2: 1.3, 3: 0.6}}
    rule = MoreSeeds(rounds=2, per_round=2, max_seeds=5, min_difference=0.1)
    result = verdicts(values, configured, "best", "max", rule)
    assert not any(v.worse for v in result.values())
    assert next_round(values, configured, "best", "max", rule, result) == ["best", "far"]
    assert result["close"].why == "gap below min_difference" and result["far"].why == "pending"
    values["best"].update({4: 1.0, 5: 1.1})
    values["far"].update({4: 1.0, 5: 1.05})
    result = verdicts(values, configured, "best", "max", rule)
    assert next_round(values, configured, "best", "max", rule, result) == []
    assert result["far"].why == "cap" and result["far"].added == 2
    unlimited = MoreSeeds(rounds=1, per_round=2, max_seeds=50, min_difference=0.1)  # rounds run out first
    result = verdicts(values, configured, "best", "max", unlimited)
    assert next_round(values, configured, "best", "max", unlimited, result) == []
    assert result["far"].why == "rounds used"
    assert verdict_text(result["far"], False) == "undecided on 2 fresh seeds (p = %.2g); no round of added seeds left" \
        % result["far"].p
    # a report written while the round's other runs are still planned waits for them instead
    assert verdict_text(result["far"], False, unfinished=1) == "undecided on 2 fresh seeds (p = %.2g); waiting for " \
        "1 planned run" % result["far"].p
    assert verdict_text(result["close"], False, unfinished=3) == ("not established at 3 seeds; waiting for 3 "
                                                                  "planned runs")
    assert verdict_text(result["far"], True, unfinished=3) == "— (reference)"


def test_with_close_by_bound_a_small_but_uncertain_gap_still_gets_seeds():
    """Gap 0.05 < min_difference 0.1, but the paired differences (0.05 +- 0.1) leave its 95% upper bound
    at 0.05 + t(0.95, 2) 0.1 / sqrt(3) = 0.2186: it might matter, so it gets seeds; a tight gap does not."""
    configured = {name: {1, 2, 3} for name in ("best", "uncertain", "tight")}
    values = {"best": {1: 1.0, 2: 1.0, 3: 1.0}, "uncertain": {1: 0.95, 2: 1.05, 3: 0.85},
              "tight": {1: 0.99, 2: 0.98, 3: 0.99}}
    differences = paired(values["uncertain"], values["best"])
    assert worse_by(differences, -1, MoreSeeds(close_by="bound")) == pytest.approx(
        0.05 + 2.919986 * 0.1 / math.sqrt(3), abs=1e-5)
    assert worse_by(differences, -1, MoreSeeds()) == pytest.approx(0.05)
    assert worse_by(differences[:1], -1, MoreSeeds(close_by="bound")) == math.inf
    estimate = MoreSeeds(rounds=2, per_round=2, max_seeds=7, min_difference=0.1)
    result = verdicts(values, configured, "best", "max", estimate)
    assert next_round(values, configured, "best", "max", estimate, result) == []
    assert result["uncertain"].why == result["tight"].why == "gap below min_difference"
    bound = MoreSeeds(rounds=2, per_round=2, max_seeds=7, min_difference=0.1, close_by="bound")
    result = verdicts(values, configured, "best", "max", bound)
    assert next_round(values, configured, "best", "max", bound, result) == ["best", "uncertain"]
    assert result["tight"].why == "gap bound below min_difference" and result["uncertain"].why == "pending"
    assert verdict_text(result["tight"], False) == ("not established at 3 seeds; within the smallest difference "
                                                    "that matters (upper bound)")
    assert worse_by(np.array([-0.05, -0.05]), -1, bound) == pytest.approx(0.05)  # no spread: the gap itself


def test_an_optimizer_without_a_completed_seed_shared_with_the_reference_is_not_called_close():
    configured = {"best": {1, 2}, "failed": {1, 2}}
    values = {"best": {1: 1.0, 2: 1.1}, "failed": {}}
    for close_by in ("estimate", "bound"):
        rule = MoreSeeds(rounds=2, per_round=2, max_seeds=6, min_difference=0.1, close_by=close_by)
        result = verdicts(values, configured, "best", "max", rule)
        assert next_round(values, configured, "best", "max", rule, result) == []
        assert verdict_text(result["failed"], False) == ("not established at 0 seeds; no completed seed shared "
                                                         "with the reference")


def test_sign_flip_p_values_by_hand():
    from kerasopt.stats.paired import sign_flip_p_value

    assert sign_flip_p_value(np.array([1.0, 2.0, 3.0]), 1) == 1 / 8  # only the observed pattern is as large
    assert sign_flip_p_value(np.array([1.0, 2.0, 3.0])) == 2 / 8  # and its mirror image, two-sided
    assert sign_flip_p_value(np.array([1.0, -2.0, 3.0]), 1) == 3 / 8  # sums 6, 4, 2 reach the observed 2
    assert sign_flip_p_value(np.array([-1.0, -2.0, -3.0]), 1) == 1.0
    assert math.isnan(sign_flip_p_value(np.array([1.0]), 1))
    assert sign_flip_p_value(np.full(10, 0.3), 1) == 2 ** -10  # 10 pairs one way: the smallest p-value
    with pytest.raises(ValueError, match="at most 22 pairs"):
        sign_flip_p_value(np.ones(23), 1)


def test_the_sign_flip_test_cannot_decide_at_five_seeds_and_decides_on_ten_fresh_ones():
    """Look 0 with 5 seeds: the smallest two-sided p-value is 2/32 > 5%, so nothing is decided however large
    the gap (the t test decides it); 10 fresh seeds all worse reach 2**-10 < 0.02 / 2."""
    values = {"a": {s: 1.0 + 0.01 * s for s in range(1, 6)}, "b": {s: 0.0 + 0.02 * s for s in range(1, 6)}}
    configured = {name: set(range(1, 6)) for name in values}
    assert verdicts(values, configured, "a", "max", MoreSeeds())["b"].worse
    flip = MoreSeeds(rounds=1, per_round=10, max_seeds=15, test="sign_flip")
    assert not verdicts(values, configured, "a", "max", flip)["b"].worse
    for name, base in (("a", 1.0), ("b", 0.0)):
        values[name].update({s: base + 0.01 * s for s in range(6, 16)})
    decided = verdicts(values, configured, "a", "max", flip)["b"]
    assert decided.worse and decided.look == 1 and decided.added == 10


@pytest.mark.parametrize("noise", ["skewed", "bad_runs"])
def test_the_sign_flip_procedure_holds_its_level_when_runs_go_wrong(noise):
    """Equal optimizers whose runs sometimes go wrong (a skewed or bad-run noise, the same for all): the
    sequential procedure with the exact test keeps false "worse" verdicts at or below 5%."""
    rule = MoreSeeds(rounds=2, per_round=5, max_seeds=15, min_difference=0.0, test="sign_flip")
    result = simulate(k=6, seeds=5, rule=rule, studies=300, seed=4, noise=noise, seed_sd=0.4)
    assert result["false_verdict_rate"] <= 0.05, result
    assert max(result["mean_seeds"]) > 10


def test_the_simulation_benchmark_prints_every_configuration_test_and_noise(capsys):
    from conftest import load_benchmark

    simulation = load_benchmark("verdicts_simulation")
    simulation.main(["--studies", "8"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "configuration" not in line]
    count = 2 * len(simulation.CONFIGURATIONS)
    assert count == 10 and len(rows) == count and all(line.count("±") == 4 for line in rows)
    assert out.count("decided in") == count


def test_the_simulation_benchmark_runs_only_the_configurations_asked_for(capsys):
    from conftest import load_benchmark

    load_benchmark("verdicts_simulation").main(["--studies", "8", "--only", "faststyle_cpu"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| faststyle_cpu")]
    assert len(rows) == 2 and {line.split(" | ")[1] for line in rows} == {"t", "sign_flip"}

"""The pure helpers of benchmarks/determinism_cost.py (no TensorFlow, no subprocess)."""

import numpy as np
import pytest

from conftest import load_benchmark

bench = load_benchmark("determinism_cost")


def worker(cpu, digest, wall=None):
    return {"workloads": {"w": {"cpu": cpu, "seconds": wall or [2 * s for s in cpu], "digest": digest, "loss": 1.0}}}


def test_rounds_alternate_which_setting_runs_first():
    assert bench.round_orders(4) == [(True, False), (False, True), (True, False), (False, True)]
    assert bench.round_orders(0) == []


def test_step_median_leaves_the_traced_first_step_out():
    assert bench.step_median([50.0, 1.0, 3.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="at least two steps"):
        bench.step_median([5.0])


def test_ratios_are_per_round_on_over_off_and_summarised_by_median_and_spread():
    rounds = [{"on": worker([9, 1.2, 1.2], "a"), "off": worker([9, 1.0, 1.0], "a")},
              {"on": worker([9, 1.0, 1.1, 1.0], "a"), "off": worker([9, 1.0], "b")},
              {"on": worker([9, 2.2], "a", wall=[9, 3.0]), "off": worker([9, 2.0], "b", wall=[9, 2.0])}]
    ratios = bench.round_ratios(rounds, "w")  # CPU seconds
    assert ratios == pytest.approx([1.2, 1.0, 1.1])
    assert bench.round_ratios(rounds, "w", "seconds") == pytest.approx([1.2, 1.0, 1.5])
    assert bench.summarize(ratios) == pytest.approx({"median": 1.1, "min": 1.0, "max": 1.2, "rounds": 3})
    assert bench.verdict(1.1) == "within" and bench.verdict(1.1001) == "over"
    same = bench.identity(rounds, "w")
    assert same == {"on_vs_off": [True, False, False], "on_across": True, "off_across": False, "distinct": 2}
    table = bench.markdown_table(["w"], rounds)
    assert ("| w | 1.000 | 1.200 | 1.100 (1.000-1.200) | 1.200 (1.000-1.500) | yes | 1/3 rounds | identical | differ |"
            in table)


def test_per_evaluation_spreads_each_iteration_over_its_evaluations():
    # iterations ending after 3, 4 and 6 evaluations, at 6, 7 and 11 seconds
    assert bench.per_evaluation([(3, 6.0), (4, 7.0), (6, 11.0)]) == pytest.approx([2.0, 1.0, 2.0, 2.0])


def test_digest_sees_every_bit():
    a = np.zeros(4, np.float32)
    b = a.copy()
    b.view(np.uint32)[2] = 1  # the smallest subnormal float32: one bit from 0
    assert bench.digest([a]) == bench.digest([a.copy()])
    assert bench.digest([a]) != bench.digest([b])
    assert bench.digest([a, a]) != bench.digest([a])

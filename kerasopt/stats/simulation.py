"""Simulated studies of the verdict procedure (`kerasopt.stats.verdicts`): its false-verdict rate and power.

Not used by a study or a report: `tests/test_verdicts.py` and ``benchmarks/verdicts_simulation.py`` run them.
"""

from __future__ import annotations

import math

import numpy as np

from kerasopt.stats.paired import holm, t_p_value
from kerasopt.stats.verdicts import MoreSeeds, Verdict, decide



def run_procedure(draw, names: list[str], configured_seeds: list[int], mode: str,
                  rule: MoreSeeds) -> tuple[dict[str, Verdict], dict]:
    """The whole procedure on a value source: look 0, then rounds of added seeds until `decide` asks for none
    (as a study's planner does).

    Args:
        draw: ``draw(name, seed) -> value`` (a simulated run).
        names: the optimizers.
        configured_seeds: the held-out seeds of look 0 (every optimizer).

    Returns:
        ``(verdicts, values)``.
    """
    values = {name: {seed: draw(name, seed) for seed in configured_seeds} for name in names}
    next_seed = max(configured_seeds) + 1
    while True:
        decision = decide(values, configured_seeds, mode, rule)
        if not decision.more:
            return decision.verdicts, values
        fresh = list(range(next_seed, next_seed + rule.per_round))
        next_seed += rule.per_round
        for name in decision.more:
            values[name].update({seed: draw(name, seed) for seed in fresh})


NOISES = {
    "gaussian": lambda rng: rng.normal(),
    "skewed": lambda rng: 1.0 - rng.exponential(),
    "bad_runs": lambda rng: rng.normal() - (4.0 if rng.random() < 0.1 else 0.0),
    "heavy_tails": lambda rng: rng.standard_t(3) / math.sqrt(3.0),
}
"""Per-run noise of the simulations, SD 1 (bad_runs: 1.0 before its drops), the bad side low (a
``max`` metric; mirrored for ``min``): ``gaussian``; ``skewed`` (1 - Exp(1): a long tail of bad runs);
``bad_runs`` (Gaussian, and one run in ten 4 SD worse: a run that went wrong); ``heavy_tails`` (t with
3 degrees of freedom)."""


def simulate(k: int = 10, seeds: int = 5, rule: MoreSeeds = MoreSeeds(), studies: int = 1000,
             gaps: tuple = (), mode: str = "max", seed: int = 0, noise: str = "gaussian",
             seed_sd: float = 0.0) -> dict:
    """Simulated studies: per-seed values ``mean_i + seed effect + noise``, ``mean_i = -gaps[i]`` (0 beyond
    ``gaps``: under the global null every optimizer is equal), the seed effect ``N(0, seed_sd)`` shared by
    every optimizer on that seed, the noise one of `NOISES` (the same distribution for every optimizer).
    Returns the rate of studies with a false "worse" verdict (an optimizer declared worse than one it is
    not truly worse than) with its binomial standard error, the mean seeds per optimizer and the rate of
    true verdicts per optimizer."""
    rng = np.random.default_rng(seed)
    residual = NOISES[noise]
    bad_side = 1.0 if mode == "max" else -1.0
    means = [-(gaps[i] if i < len(gaps) else 0.0) * (1 if mode == "max" else -1) for i in range(k)]
    names = [f"o{i}" for i in range(k)]
    best_mean = max(means) if mode == "max" else min(means)
    false_studies, seeds_used, true_worse = 0, np.zeros(k), np.zeros(k)

    for _ in range(studies):
        noise, seed_effects = {}, {}

        def draw(name, seed_):
            key = (name, seed_)
            if key not in noise:
                if seed_ not in seed_effects:
                    seed_effects[seed_] = seed_sd * rng.normal()
                noise[key] = means[names.index(name)] + seed_effects[seed_] + bad_side * residual(rng)
            return noise[key]

        result, values = run_procedure(draw, names, list(range(1, seeds + 1)), mode, MoreSeeds(**vars(rule)))
        false = any(v.worse and means[names.index(name)] == best_mean and
                    means[names.index(v.by)] == best_mean for name, v in result.items())
        false |= any(v.worse and not (means[names.index(name)] < means[names.index(v.by)] if mode == "max"
                                      else means[names.index(name)] > means[names.index(v.by)])
                     for name, v in result.items())
        false_studies += false
        seeds_used += [len(values[name]) for name in names]
        true_worse += [result[name].worse and means[i] != best_mean for i, name in enumerate(names)]
    rate = false_studies / studies
    return {"false_verdict_rate": rate, "standard_error": math.sqrt(rate * (1 - rate) / studies),
            "mean_seeds": (seeds_used / studies).tolist(), "power": (true_worse / studies).tolist(),
            "studies": studies}


def naive_holm_rate(k: int = 10, seeds: int = 5, studies: int = 1000, alpha: float = 0.05, seed: int = 0) -> float:
    """The false-verdict rate under the global null of what the reports did before: each optimizer's
    paired t test against the best-ranked one (picked from the same seeds), Holm over the k - 1 tests."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(studies):
        x = rng.normal(size=(k, seeds))
        best = int(np.argmax(x.mean(axis=1)))
        p = [t_p_value(x[i] - x[best]) for i in range(k) if i != best]
        hits += any(q < alpha for q in holm(p))
    return hits / studies

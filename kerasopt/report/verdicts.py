"""Verdicts "worse than the best?" that control false claims, and seeds added where a verdict is undecided.

Why not the paired test against the best with Holm: the best is picked from the same seeds, so every
other optimizer's difference to it is biased towards "worse". Simulated under the null (10 equal
optimizers, 5 seeds): 10% of studies declare at least one optimizer worse at a nominal 5%
(`tests/test_verdicts.py`, benchmarks/verdicts_simulation.py).

The procedure (family-wise rate of false "worse" verdicts at most ``alpha``, by the union bound):

- **Look 0** (the study's held-out seeds): every pair of optimizers is compared by a two-sided paired
  t test on their shared seeds, Holm-adjusted over all k(k-1)/2 pairs at level ``alpha_0``; an
  optimizer is *worse than the best* when it is significantly worse than some other optimizer (that
  one is then at least as good as the best). No optimizer is privileged, so picking the best from
  the data biases nothing.
- **Added rounds** (``more_seeds``): the reference is the look-0 leader (fixed before any added seed
  is run). An optimizer still undecided whose gap to the reference is at least ``min_difference``
  (the smallest difference that matters; the gap is the mean paired difference, or with
  ``close_by="bound"`` its one-sided upper ``1 - alpha`` t bound, per optimizer and look, not
  corrected for multiplicity: a stopping rule, not a verdict) gets ``per_round`` fresh seeds, and so
  does the reference;
  at look r its verdict is a one-sided paired t test on the FRESH seeds only (rounds 1..r), which
  are independent of the choice of the reference, at level ``alpha_r / (k - 1)``: Bonferroni over
  every comparison that could be tested, so which ones are tested (decided by earlier looks) does not
  matter. With R rounds, ``alpha_0 = 0.4 alpha`` and ``alpha_r = 0.4 alpha / R``: the union bound
  is then 0.8 alpha, because it is nearly tight here (simulated with ``alpha_0 = alpha_r R =
  alpha / 2``: 4.9% +- 0.3% at alpha = 5%, too close to claim "at most 5%" from a simulation), so a
  fifth of alpha is left unspent. Without added rounds ``alpha_0 = alpha``. Seeds stop at
  ``max_seeds`` per optimizer.

The test (``test``, declared in the study file before any run): ``"t"``, the paired t test (the default,
and what the studies published before 2026-12 used), or ``"sign_flip"``, the exact paired sign-flip
(permutation) test of the mean difference: under "equal optimizers" each per-seed difference is as
likely positive as negative, so its p-value is exact at any sample size and whatever the noise
(skewed, occasional bad runs), where the t test's small tails rest on normality. Its smallest p-value
is ``2**-n`` one-sided for n pairs, so a level of 0.001 needs at least 10 pairs.

Everything here is a pure function of per-seed values (no TensorFlow, no files): the study runner
plans the added seeds with it, and the report recomputes the same verdicts from the records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats as _scipy_stats

from kerasopt.report.stats import holm

TESTS = ("t", "sign_flip")
SPENT = 0.8
"""The share of alpha a study with added rounds spends (see the module docstring)."""
Values = Mapping[str, Mapping[int, float]]
"""optimizer -> {seed: value} of its completed tuned runs."""


@dataclass(frozen=True)
class MoreSeeds:
    """When and how many held-out seeds a study adds (the study key ``more_seeds``).

    Attributes:
        rounds: rounds of added seeds at most (0: none, only look 0).
        per_round: fresh seeds added to each undecided optimizer (and the reference) per round.
        max_seeds: held-out seeds per optimizer at most (configured + added).
        min_difference: the smallest gap to the reference that matters (in the metric's units);
            an undecided optimizer closer than this gets no more seeds.
        alpha: family-wise rate of false "worse" verdicts over all looks.
        close_by: what "closer than ``min_difference``" means: ``"estimate"``, the mean paired gap
            over all its seeds is below it; ``"bound"``, the gap's one-sided upper ``1 - alpha``
            t bound is (it is established not to matter; an optimizer whose gap might still matter
            keeps getting seeds up to the cap).
        test: the verdicts' test, one of `TESTS`: ``"t"`` (paired t) or ``"sign_flip"`` (exact).
    """

    rounds: int = 0
    per_round: int = 5
    max_seeds: int = 20
    min_difference: float = 0.0
    alpha: float = 0.05
    close_by: str = "estimate"
    test: str = "t"

    def p_value(self, differences: np.ndarray, side: int = 0) -> float:
        """The p-value of this rule's `test` (`t_p_value` or `sign_flip_p_value`)."""
        return sign_flip_p_value(differences, side) if self.test == "sign_flip" else t_p_value(differences, side)

    def alpha_at(self, look: int) -> float:
        """The share of ``alpha`` spent at ``look`` (0: the configured seeds)."""
        if self.rounds == 0:
            return self.alpha
        return SPENT * self.alpha / 2 if look == 0 else SPENT * self.alpha / (2 * self.rounds)


@dataclass
class Verdict:
    """One optimizer's verdict against the best.

    Attributes:
        worse: True when decided worse.
        by: the optimizer it is significantly worse than (look 0), or the reference (added rounds).
        look: the look that decided it (0: the configured seeds), None when undecided.
        seeds: held-out seeds it has (configured + added).
        added: seeds added to it.
        why: for an undecided one, why it stopped: ``cap``, ``rounds used``, ``gap below min_difference``, ``gap bound
            below min_difference``, ``no paired seeds``, ``no rounds``,
            ``reference`` (it is the reference) or ``pending`` (more seeds are planned).
        p: the one-sided p-value of its fresh-seed test against the reference (None without one).
    """

    worse: bool = False
    by: str | None = None
    look: int | None = None
    seeds: int = 0
    added: int = 0
    why: str = ""
    p: float | None = None


def report_rule(spec: Mapping) -> MoreSeeds:
    """The `MoreSeeds` a report judges with: the study's ``more_seeds``, its test replaced by a declared
    ``reanalysis`` (the runs were planned by the study's own rule; the report says so)."""
    rule = dict(spec.get("more_seeds") or {})
    if spec.get("reanalysis"):
        rule["test"] = spec["reanalysis"]["test"]
    return MoreSeeds(**rule)


def test_words(test: str) -> str:
    """The report's name of a test."""
    return {"t": "paired t test", "sign_flip": "exact paired sign-flip test"}[test]


def on_seeds(outcomes: dict[str, dict[int, float | None]], seeds) -> dict[str, dict[int, float | None]]:
    """``outcomes`` restricted to ``seeds`` (a study's own held-out seeds, which every optimizer shares): what
    the ranking uses, so seeds added to some optimizers only (``more_seeds``) cannot move the ranks."""
    chosen = set(seeds)
    return {name: {s: v for s, v in by_seed.items() if s in chosen} for name, by_seed in outcomes.items()}


def failure_aware_median(values: list, mode: str) -> float:
    """The median over every seed, a failed run (None or NaN: diverged, collapsed, failed) counting as the
    worst possible value (+inf for ``min``, -inf for ``max``); NaN without any run."""
    if not values:
        return math.nan
    worst = math.inf if mode == "min" else -math.inf
    return float(np.median([v if v is not None and math.isfinite(v) else worst for v in values]))


def leader(outcomes: Mapping[str, Mapping[int, float | None]], mode: str) -> str | None:
    """The optimizer with the best `failure_aware_median` (ties: the better mean over completed runs,
    then the first listed): the first of `rank_order`; None when no optimizer has a finite statistic."""
    order = rank_order(outcomes, mode)
    if not order or not math.isfinite(failure_aware_median(list(outcomes[order[0]].values()), mode)):
        return None
    return order[0]


def rank_order(outcomes: Mapping[str, Mapping[int, float | None]], mode: str) -> list[str]:
    """Optimizers best first by `failure_aware_median` (ties: mean over completed, then listed order);
    those without a finite statistic (most runs failed, or none) last, in listed order."""
    sign = 1.0 if mode == "min" else -1.0
    keyed = []
    for index, (name, by_seed) in enumerate(outcomes.items()):
        median = failure_aware_median(list(by_seed.values()), mode)
        completed = [v for v in by_seed.values() if v is not None and math.isfinite(v)]
        keyed.append((not math.isfinite(median), sign * median if math.isfinite(median) else 0.0,
                      sign * float(np.mean(completed)) if completed else 0.0, index, name))
    return [item[-1] for item in sorted(keyed)]


def rank_intervals(outcomes: Mapping[str, Mapping[int, float | None]], mode: str, resamples: int = 2000,
                   confidence: float = 0.95, seed: int = 0) -> dict[str, tuple[int, int]]:
    """Percentile bootstrap interval of each optimizer's rank: its seeds resampled with replacement
    (each optimizer on its own: per-seed results are nearly uncorrelated across optimizers), the
    `failure_aware_median` recomputed, rank = 1 + the number of optimizers with a better statistic.
    Seeded, so a report regenerates identically."""
    rng = np.random.default_rng(seed)
    names = list(outcomes)
    worst = math.inf if mode == "min" else -math.inf
    sign = 1.0 if mode == "min" else -1.0
    samples = [np.asarray([v if v is not None and math.isfinite(v) else worst for v in outcomes[n].values()], float)
               for n in names]
    ranks = np.zeros((resamples, len(names)), int)
    for b in range(resamples):
        stats = np.asarray([sign * np.median(rng.choice(s, size=s.size)) if s.size else math.inf for s in samples])
        ranks[b] = [1 + int(np.sum(stats < stat)) for stat in stats]
    tail = (1 - confidence) / 2 * 100
    return {name: (int(np.percentile(ranks[:, i], tail, method="lower")),
                   int(np.percentile(ranks[:, i], 100 - tail, method="higher"))) for i, name in enumerate(names)}


def verdict_text(verdict: Verdict, is_reference: bool) -> str:
    """The report's words for a verdict: ``yes (worse than X)`` or ``not established at n seeds`` and why."""
    if is_reference:
        return "— (reference)"
    if verdict.worse:
        return (f"yes (worse than {verdict.by})" if verdict.look == 0
                else f"yes (worse than {verdict.by} on {verdict.added} added seeds)")
    reason = {"cap": "; seed cap reached", "rounds used": "; no round of added seeds left",
              "gap below min_difference": "; gap below the smallest difference that matters",
              "gap bound below min_difference": "; within the smallest difference that matters (upper bound)",
              "no paired seeds": "; no completed seed shared with the reference"}.get(verdict.why, "")
    if verdict.added and verdict.p is not None:
        return f"undecided on {verdict.added} fresh seeds (p = {verdict.p:.2g}){reason}"
    return f"not established at {verdict.seeds} seed{'s' if verdict.seeds != 1 else ''}{reason}"


def paired(values_i: Mapping[int, float], values_j: Mapping[int, float], seeds=None) -> np.ndarray:
    """Per-seed differences ``values_i - values_j`` over their shared seeds (restricted to ``seeds``)."""
    shared = sorted(set(values_i) & set(values_j) & (set(seeds) if seeds is not None else set(values_i)))
    return np.asarray([values_i[s] - values_j[s] for s in shared], dtype=float)


def t_p_value(differences: np.ndarray, side: int = 0) -> float:
    """p-value of the paired t test of mean(differences) = 0: two-sided (``side=0``), or one-sided
    for mean > 0 (``side=1``) / mean < 0 (``side=-1``); NaN below two pairs. Zero spread: the
    sign is certain (p 0 on the tested side, 1 otherwise)."""
    if differences.size < 2:
        return math.nan
    spread = differences.std(ddof=1)
    mean = differences.mean()
    if spread == 0:
        hit = mean != 0 if side == 0 else side * mean > 0
        return 0.0 if hit else 1.0
    statistic = mean / (spread / math.sqrt(differences.size))
    if side == 0:
        return float(2 * _scipy_stats.t.sf(abs(statistic), differences.size - 1))
    return float(_scipy_stats.t.sf(side * statistic, differences.size - 1))


def sign_flip_p_value(differences: np.ndarray, side: int = 0) -> float:
    """Exact p-value of the paired sign-flip test of mean(differences) = 0: the share of the ``2**n``
    sign patterns whose mean is at least as extreme as the observed one (two-sided: in absolute value;
    ``side=1``: as large; ``side=-1``: as small); NaN below two pairs. Exact up to 22 pairs.

    Hand example: differences (1, 2, 3), side 1: only the all-positive pattern reaches the mean 2, so
    p = 1/8; two-sided, the all-negative one too: 2/8."""
    n = differences.size
    if n < 2:
        return math.nan
    if n > 22:
        raise ValueError(f"sign_flip_p_value enumerates 2**n patterns; at most 22 pairs. Received: n={n}")
    signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)  # (2**n, n) of +-1
    means = signs @ np.abs(differences) / n
    observed = differences.mean()
    tolerance = 1e-12 * max(1.0, float(np.abs(differences).max()))
    if side == 0:
        hits = np.abs(means) >= abs(observed) - tolerance
    else:
        hits = side * means >= side * observed - tolerance
    return float(hits.mean())


def worse_side(mode: str) -> int:
    """The sign of ``value_i - value_j`` when i is worse: +1 for ``min`` (higher is worse), -1 for ``max``."""
    return 1 if mode == "min" else -1


def all_pairs_worse(values: Values, mode: str, alpha: float, p_value=t_p_value) -> dict[str, str]:
    """Look 0: optimizer -> the optimizer it is significantly worse than (Holm over all pairs, two-sided
    ``p_value``: `t_p_value` or `sign_flip_p_value`)."""
    names = [name for name in values if len(values[name]) >= 2]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    differences = [paired(values[a], values[b]) for a, b in pairs]
    adjusted = holm([p_value(d) for d in differences])
    side = worse_side(mode)
    worse: dict[str, tuple[float, str]] = {}
    for (a, b), d, p in zip(pairs, differences, adjusted):
        if math.isnan(p) or p >= alpha:
            continue
        loser, winner = (a, b) if side * d.mean() > 0 else (b, a)
        if loser not in worse or p < worse[loser][0]:
            worse[loser] = (p, winner)
    return {name: winner for name, (_, winner) in worse.items()}


def verdicts(values: Values, configured: Mapping[str, set], reference: str | None, mode: str,
             rule: MoreSeeds) -> dict[str, Verdict]:
    """Every optimizer's verdict from its per-seed values (configured seeds and any added ones).

    Args:
        values: per optimizer, ``{seed: value}`` of its completed tuned runs, added seeds included.
        configured: per optimizer, the study's own held-out seeds (look 0).
        reference: the look-0 leader (the report's rank 1), the reference of the added rounds.
        mode: ``"min"`` or ``"max"``.
        rule: the `MoreSeeds` of the study.
    """
    at_look_0 = {name: {s: v for s, v in values[name].items() if s in configured.get(name, set())}
                 for name in values}
    decided = all_pairs_worse(at_look_0, mode, rule.alpha_at(0), rule.p_value)
    result = {}
    for name in values:
        fresh = sorted(set(values[name]) - configured.get(name, set()))
        verdict = Verdict(seeds=len(values[name]), added=len(fresh))
        if name in decided:
            verdict.worse, verdict.by, verdict.look = True, decided[name], 0
        elif name == reference:
            verdict.why = "reference"
        elif reference is not None and fresh:
            look = math.ceil(len(fresh) / rule.per_round)
            reference_fresh = set(values[reference]) - configured.get(reference, set())
            d = paired(values[name], values[reference], reference_fresh)
            p = rule.p_value(d, worse_side(mode))
            verdict.p = None if math.isnan(p) else p
            if not math.isnan(p) and p < rule.alpha_at(look) / max(len(values) - 1, 1):
                verdict.worse, verdict.by, verdict.look = True, reference, look
        result[name] = verdict
    return result


def worse_by(differences: np.ndarray, side: int, rule: MoreSeeds) -> float:
    """How much worse than the reference an optimizer may be, from its paired ``differences`` (own -
    reference, per seed): their mean in the worse direction (``close_by="estimate"``), or its one-sided
    upper ``1 - alpha`` t bound (``"bound"``; +inf below two pairs); NaN without any pair."""
    if not differences.size:
        return math.nan
    gap = side * float(differences.mean())
    if rule.close_by != "bound":
        return gap
    if differences.size < 2:
        return math.inf
    spread = float(differences.std(ddof=1))
    if spread == 0:
        return gap
    return gap + _scipy_stats.t.ppf(1 - rule.alpha, differences.size - 1) * spread / math.sqrt(differences.size)


def next_round(values: Values, configured: Mapping[str, set], reference: str | None, mode: str,
               rule: MoreSeeds, result: dict[str, Verdict]) -> list[str]:
    """The optimizers to give ``rule.per_round`` more seeds now (the reference first), or [] when
    every verdict is decided, too close to matter, capped or out of rounds; sets each undecided
    verdict's ``why``."""
    if reference is None:
        return []
    rounds_done = math.ceil(len(set(values[reference]) - configured.get(reference, set())) / rule.per_round) \
        if rule.per_round else 0
    side = worse_side(mode)
    chosen = []
    for name, verdict in result.items():
        if verdict.worse or name == reference:
            continue
        gap = worse_by(paired(values[name], values[reference]), side, rule)
        if rule.rounds == 0:
            verdict.why = "no rounds"
        elif math.isnan(gap):
            verdict.why = "no paired seeds"
        elif not (gap >= rule.min_difference):
            verdict.why = "gap bound below min_difference" if rule.close_by == "bound" else "gap below min_difference"
        elif verdict.seeds + rule.per_round > rule.max_seeds:
            verdict.why = "cap"
        elif rounds_done >= rule.rounds:
            verdict.why = "rounds used"
        else:
            verdict.why = "pending"
            chosen.append(name)
    return [reference, *chosen] if chosen else []


def run_procedure(draw, names: list[str], configured_seeds: list[int], mode: str, rule: MoreSeeds,
                  rank) -> tuple[dict[str, Verdict], dict]:
    """The whole procedure on a value source: look 0, then rounds of added seeds until none is needed.

    Args:
        draw: ``draw(name, seed) -> value`` (a study's run, or a simulated one).
        names: the optimizers.
        configured_seeds: the held-out seeds of look 0 (every optimizer).
        rank: ``rank(values) -> reference`` (the leader at look 0).

    Returns:
        ``(verdicts, values)``.
    """
    values = {name: {seed: draw(name, seed) for seed in configured_seeds} for name in names}
    configured = {name: set(configured_seeds) for name in names}
    reference = rank(values)
    next_seed = max(configured_seeds) + 1
    while True:
        result = verdicts(values, configured, reference, mode, rule)
        more = next_round(values, configured, reference, mode, rule, result)
        if not more:
            return result, values
        fresh = list(range(next_seed, next_seed + rule.per_round))
        next_seed += rule.per_round
        for name in more:
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

        result, values = run_procedure(draw, names, list(range(1, seeds + 1)), mode, MoreSeeds(**vars(rule)),
                                       lambda values: leader(values, mode))
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

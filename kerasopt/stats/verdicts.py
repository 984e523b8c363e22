"""Verdicts "worse than the best?" that control false claims, and seeds added where a verdict is undecided.

Why not the paired test against the best with Holm: the best is picked from the same seeds, so every
other optimizer's difference to it is biased towards "worse". Simulated under the null (10 equal
optimizers, 5 seeds): 10% of studies declare at least one optimizer worse at a nominal 5%
(`kerasopt.stats.simulation`, benchmarks/verdicts_simulation.py).

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

Everything here is a pure function of per-seed values (no TensorFlow, no files). `decide` is the one
decision: the study's planner asks it which optimizers get more seeds, and the report recomputes the same
verdicts from the records with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from scipy import stats as _scipy_stats

from kerasopt.stats.paired import holm, paired, sign_flip_p_value, t_p_value, worse_side
from kerasopt.stats.ranking import leader, on_seeds

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


def verdict_text(verdict: Verdict, is_reference: bool, unfinished: int = 0) -> str:
    """The report's words for a verdict: ``yes (worse than X)`` or ``not established at n seeds`` and why;
    ``unfinished`` planned runs of the arm without a record make an undecided verdict wait for them."""
    if is_reference:
        return "— (reference)"
    if verdict.worse:
        return (f"yes (worse than {verdict.by})" if verdict.look == 0
                else f"yes (worse than {verdict.by} on {verdict.added} added seeds)")
    reason = {"cap": "; seed cap reached", "rounds used": "; no round of added seeds left",
              "gap below min_difference": "; gap below the smallest difference that matters",
              "gap bound below min_difference": "; within the smallest difference that matters (upper bound)",
              "no paired seeds": "; no completed seed shared with the reference"}.get(verdict.why, "")
    if unfinished:
        reason = f"; waiting for {unfinished} planned run{'s' if unfinished != 1 else ''}"
    if verdict.added and verdict.p is not None:
        return f"undecided on {verdict.added} fresh seeds (p = {verdict.p:.2g}){reason}"
    return f"not established at {verdict.seeds} seed{'s' if verdict.seeds != 1 else ''}{reason}"


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


@dataclass
class Decision:
    """What the verdict procedure concludes from a study's per-seed outcomes (`decide`).

    Attributes:
        shared: the outcomes on the study's own held-out seeds (every optimizer shares them): the ranking's.
        reference: the look-0 leader (`kerasopt.stats.ranking.leader` of ``shared``), None without one.
        verdicts: optimizer -> its `Verdict` (every undecided one says ``why`` it stopped).
        more: the optimizers to give ``rule.per_round`` more seeds now (the reference first); [] when none.
    """

    shared: dict
    reference: str | None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    more: list[str] = field(default_factory=list)


def decide(outcomes: Mapping[str, Mapping[int, float | None]], seeds, mode: str, rule: MoreSeeds) -> Decision:
    """The one decision of a study, from its tuned arm's per-seed outcomes: the verdicts "worse than the best?"
    and which optimizers get more seeds. The study's planner and the report both call it.

    Args:
        outcomes: optimizer -> {seed: value, None for a diverged, collapsed or failed run}, the seeds added by
            ``more_seeds`` included (`kerasopt.results.seed_outcomes`).
        seeds: the study's own held-out seeds (look 0).
        mode: ``"min"`` or ``"max"``.
        rule: the study's `MoreSeeds` (`report_rule` for a report).
    """
    shared = on_seeds(outcomes, seeds)
    configured = {name: set(by_seed) for name, by_seed in shared.items()}
    reference = leader(shared, mode)
    values = {name: {s: v for s, v in by_seed.items() if v is not None} for name, by_seed in outcomes.items()}
    result = verdicts(values, configured, reference, mode, rule)
    more = next_round(values, configured, reference, mode, rule, result)
    return Decision(shared, reference, result, more)

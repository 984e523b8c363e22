"""The false-verdict rate of the "worse than the best?" verdicts, by simulation (kerasopt.report.verdicts).

Under the global null (k equal optimizers, per-seed values N(0, 1)) every "worse" verdict is false; the
share of simulated studies with at least one is the family-wise false-verdict rate. Printed for the
procedure the reports used before (paired t tests against the best-ranked optimizer, Holm over k - 1),
for look 0 alone (all pairs, Holm) and for the sequential procedure with added rounds of seeds, with
binomial standard errors; and, under an alternative (one optimizer 2 SD worse), how often it is
decided and how many seeds it took.

    .venv/bin/python benchmarks/verdicts_simulation.py [--studies 10000]
"""

from __future__ import annotations

import argparse

from kerasopt.report.verdicts import MoreSeeds, naive_holm_rate, simulate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=10000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    rounds = MoreSeeds(rounds=3, per_round=5, max_seeds=20, min_difference=0.0)
    print(f"| procedure (k = {args.k}, {args.seeds} seeds, {args.studies} studies under the null) | "
          "false-verdict rate | standard error |")
    print("|---|---|---|")
    naive = naive_holm_rate(args.k, args.seeds, args.studies, seed=1)
    print(f"| paired t vs the best-ranked, Holm over k - 1 (the reports before) | {naive:.4f} | "
          f"{(naive * (1 - naive) / args.studies) ** 0.5:.4f} |")
    for label, rule in (("look 0: all pairs, Holm", MoreSeeds()),
                        ("look 0 + up to 3 rounds of 5 seeds (min_difference 0)", rounds)):
        result = simulate(args.k, args.seeds, rule, args.studies, seed=2)
        print(f"| {label} | {result['false_verdict_rate']:.4f} | {result['standard_error']:.4f} |")
    gaps = (0.0,) * (args.k - 1) + (2.0,)
    for label, rule in (("look 0 only", MoreSeeds()), ("with rounds", rounds)):
        result = simulate(args.k, args.seeds, rule, max(args.studies // 10, 100), gaps=gaps, seed=3)
        print(f"one optimizer 2 SD worse, {label}: decided in {result['power'][-1]:.1%} of studies, "
              f"{result['mean_seeds'][-1]:.1f} seeds on average")


if __name__ == "__main__":
    main()

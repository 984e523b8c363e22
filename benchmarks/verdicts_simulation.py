"""The false-verdict rate of the "worse than the best?" verdicts, by simulation (kerasopt.stats.verdicts, kerasopt.stats.simulation).

Under the global null (k equal optimizers) every "worse" verdict is false; the share of simulated
studies with at least one is the family-wise false-verdict rate. Printed, with binomial standard errors:

- the procedure the reports used before 2026-11 (paired t tests against the best-ranked optimizer, Holm
  over k - 1): about 10% at a nominal 5%;
- the sequential procedure at the configurations of the published studies (look 0: all pairs, Holm;
  then rounds of fresh seeds against the look-0 leader), with the paired t test and with the exact
  sign-flip test, under four noises of the same distribution for every optimizer (`NOISES`: Gaussian,
  skewed, occasional bad runs 4 SD down, t with 3 degrees of freedom) plus a seed effect shared by the
  optimizers on a seed (SD 0.38 of the residual: the defect study's 0.008 / 0.021);
- the power of each test against one optimizer 1.5 SD worse.

Units: one residual SD. The defect study's min_difference 0.02 test Dice is 0.95 SD (residual SD 0.021); fast
style's 20 (validation loss) is 0.41 SD (residual SD 48.8 of AMSGrad, Nadam and Adam over their 15 seeds; 0.14 SD
with RMSprop's 140.7, whose noisier runs make a smaller bound in SD units).

    .venv/bin/python benchmarks/verdicts_simulation.py [--studies 1000]
"""

from __future__ import annotations

import argparse

from kerasopt.stats.simulation import NOISES, naive_holm_rate, simulate
from kerasopt.stats.verdicts import MoreSeeds

CONFIGURATIONS = {  # name -> (k, configured seeds, more_seeds keyword arguments without the test)
    "defects_cpu (10 optimizers, 5 seeds, 2 rounds of 5, cap 15, gap bound >= 0.95 SD)":
        (10, 5, {"rounds": 2, "per_round": 5, "max_seeds": 15, "min_difference": 0.95, "close_by": "bound"}),
    "digits_cpu (10, 5 seeds, 2 rounds of 5, cap 15, gap >= 1 SD)":
        (10, 5, {"rounds": 2, "per_round": 5, "max_seeds": 15, "min_difference": 1.0}),
    "style (10, 5 seeds, look 0 only)": (10, 5, {}),
    "faststyle_cpu (10, 5 seeds, 1 round of 10, cap 15, gap bound >= 0.41 SD)":
        (10, 5, {"rounds": 1, "per_round": 10, "max_seeds": 15, "min_difference": 0.41, "close_by": "bound"}),
    "the modern studies (9, 5 seeds, 1 round of 10, cap 15, gap bound >= 1 SD)":
        (9, 5, {"rounds": 1, "per_round": 10, "max_seeds": 15, "min_difference": 1.0, "close_by": "bound"}),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--seed-sd", type=float, default=0.38)
    parser.add_argument("--only", default="", help="only the configurations whose name contains this text")
    args = parser.parse_args(argv)
    configurations = {label: value for label, value in CONFIGURATIONS.items() if args.only in label}
    naive = naive_holm_rate(10, 5, args.studies, seed=1)
    print(f"Paired t vs the best-ranked, Holm over k - 1 (the reports before; Gaussian): {naive:.3f} "
          f"(SE {(naive * (1 - naive) / args.studies) ** 0.5:.3f})\n")
    print(f"| configuration | test | {' | '.join(NOISES)} |")
    print("|---|---|" + "---|" * len(NOISES))
    for label, (k, seeds, more) in configurations.items():
        for test in ("t", "sign_flip"):
            cells = []
            for noise in NOISES:
                result = simulate(k, seeds, MoreSeeds(**more, test=test), args.studies, seed=2, noise=noise,
                                  seed_sd=args.seed_sd)
                cells.append(f"{result['false_verdict_rate']:.3f} ± {result['standard_error']:.3f}")
            print(f"| {label} | {test} | {' | '.join(cells)} |", flush=True)
    print(f"\nPower against one optimizer 1.5 SD worse (Gaussian, {max(args.studies // 4, 10)} studies):")
    for label, (k, seeds, more) in configurations.items():
        for test in ("t", "sign_flip"):
            result = simulate(k, seeds, MoreSeeds(**more, test=test), max(args.studies // 4, 10),
                              gaps=(0.0,) * (k - 1) + (1.5,), seed=3, seed_sd=args.seed_sd)
            print(f"- {label}, {test}: decided in {result['power'][-1]:.1%} of studies, "
                  f"{result['mean_seeds'][-1]:.1f} seeds on average", flush=True)


if __name__ == "__main__":
    main()

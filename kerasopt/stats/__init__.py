"""Statistics of studies: pure functions of per-seed values, no files and no TensorFlow.

- `kerasopt.stats.intervals`: intervals of a mean over seeds, paired differences, the pooled Dice over seeds
  and test images;
- `kerasopt.stats.paired`: the paired t and exact sign-flip tests, Holm's adjustment;
- `kerasopt.stats.ranking`: the failure-aware median, rank order, rank intervals, Kendall's tau;
- `kerasopt.stats.verdicts`: "worse than the best?" and the seeds a study adds; `decide`, the one decision
  the study's planner and the report share;
- `kerasopt.stats.curves`: time to a target, medians over seeds, seed bands;
- `kerasopt.stats.profiles`: performance profiles, benchmark scores and tuning-cost curves (the summary);
- `kerasopt.stats.simulation`: simulated studies of the verdicts (tests and benchmarks only).
"""

from kerasopt.stats.curves import TIME_AXES, band, median_cost, reaches, time_to_target
from kerasopt.stats.intervals import bootstrap_ci, mean_interval, paired_difference, seeds_and_images_interval, \
    t_interval
from kerasopt.stats.paired import holm, paired, sign_flip_p_value, t_p_value
from kerasopt.stats.ranking import failure_aware_median, kendall_tau, leader, on_seeds, rank_intervals, rank_order
from kerasopt.stats.verdicts import Decision, MoreSeeds, Verdict, decide

__all__ = ["Decision", "MoreSeeds", "TIME_AXES", "Verdict", "band", "bootstrap_ci", "decide", "failure_aware_median",
           "holm", "kendall_tau", "leader", "mean_interval", "median_cost", "on_seeds", "paired", "paired_difference",
           "rank_intervals", "rank_order", "reaches", "seeds_and_images_interval", "sign_flip_p_value", "t_interval",
           "t_p_value", "time_to_target"]

"""Study reports: ``report.md``, CSV tables and PNG figures from run records only (no TensorFlow).

`write_report(runs_dir)` reads ``study.json``, ``plan.json`` and the run
directories written by ``python -m kerasopt.study run``.
"""

from kerasopt.report.render import publish, write_report
from kerasopt.report.stats import bootstrap_ci, mean_interval, paired_difference, t_interval, time_to_target

__all__ = ["bootstrap_ci", "mean_interval", "paired_difference", "t_interval", "time_to_target", "publish", "write_report"]

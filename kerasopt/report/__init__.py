"""Study reports: ``report.md``, CSV tables and PNG figures from run records only (no TensorFlow).

`write_report(runs_dir)` reads ``study.json``, ``plan.json`` and the run directories written by
``python -m kerasopt.study run`` (through `kerasopt.results`) and writes nothing into them; the statistics
are `kerasopt.stats`'.
"""

from kerasopt.report.render import publish, write_report

__all__ = ["publish", "write_report"]

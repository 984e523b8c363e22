"""Fair optimizer comparison studies: ``python -m kerasopt.study run|plan|report``.

`load` reads a study file into a `StudySpec`; `kerasopt.study.plan.plan_study` plans its next runs from
its records (a pure function); `run_study` runs or resumes it (plan, execute, plan again; local or Ray
backend); `run` takes a study dict (or file) and a task object, such as a `kerasopt.KerasTask`;
`kerasopt.report.write_report` summarises the results.
"""

from kerasopt.study.expand import PlannedRun, run_id
from kerasopt.study.runner import run, run_study
from kerasopt.study.spec import StudySpec, load

__all__ = ["PlannedRun", "StudySpec", "load", "run", "run_id", "run_study"]

"""Fair optimizer comparison studies: ``python -m kerasopt.study run|report``.

`load` reads a study file into a `StudySpec`; `run_study` runs or resumes it
(local or Ray backend); `run` takes a study dict (or file) and a task object, such as a
`kerasopt.KerasTask`; `kerasopt.report.write_report` summarises the results.
"""

from kerasopt.study.expand import PlannedRun, run_id
from kerasopt.study.runner import run, run_study
from kerasopt.study.spec import StudySpec, load

__all__ = ["PlannedRun", "StudySpec", "load", "run", "run_id", "run_study"]

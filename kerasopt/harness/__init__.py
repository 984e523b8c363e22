"""The one training harness every task trains through (`execute` with the task's `Workload`).

- `kerasopt.harness.run`: `Workload`, `execute` (validation, threads, resume, the record, seeding and
  determinism, failures recorded, HParams) and `kept_on_error` (artifacts never lose a run);
- `kerasopt.harness.clock`: `TrainingClock`, the one timer (training seconds without tracing or evaluation);
- `kerasopt.harness.recorder`: `EpochRecorder`, the history rows and divergence check of ``model.fit`` tasks;
- `kerasopt.harness.resume`: resuming a killed run (``model.fit``: `backup_callback`, `best_weights_callback`;
  a training loop: `LoopBackup`);
- `kerasopt.harness.hparams`: each run on TensorBoard's HParams dashboard.

Learning-rate schedules have one place: `kerasopt.config.TaskConfig.build_optimizer` (`kerasopt.schedules`).
The optimizer's evaluation point (Schedule-Free's averaged weights) is `kerasopt.optimizers.evaluation`.
"""

from kerasopt.harness.clock import TrainingClock, trace_seconds
from kerasopt.harness.recorder import EpochRecorder, finite_or_none, non_finite
from kerasopt.harness.resume import BACKUP, BEST_WEIGHTS, LoopBackup, backup_callback, best_weights_callback
from kerasopt.harness.run import Workload, execute, kept_on_error

__all__ = ["BACKUP", "BEST_WEIGHTS", "EpochRecorder", "LoopBackup", "TrainingClock", "Workload", "backup_callback",
           "best_weights_callback", "execute", "finite_or_none", "kept_on_error", "non_finite", "trace_seconds"]

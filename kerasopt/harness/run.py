"""`execute`: one run of any task, from settings to a finished run record, through the same steps.

A task supplies a `Workload` (as an AlgoPerf workload supplies its model, data and evaluation): how to
check its inputs and build what does not depend on the optimizer (``prepare``), what its record says
about them (``describe``) and how it trains and evaluates (``train``, which ends with
``record.finish``). The harness owns the rest, in this order:

1. settings validated, TensorFlow's thread pools fixed (``threads``), inputs checked — all before
   anything is written (ValueError / FileNotFoundError);
2. a ``model.fit`` task resumes an interrupted run with identical settings (`kerasopt.harness.resume`);
3. the record opens (`kerasopt.records.RunRecord`: settings, seed, determinism, host fingerprint);
4. a fresh Keras session where the task asks for one, then the seed and op determinism
   (`kerasopt.seeding.set_seed`);
5. ``train``; an exception there is recorded as a ``failed`` run, not raised;
6. the run's settings and final metrics go to TensorBoard's HParams dashboard
   (`kerasopt.harness.hparams`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from kerasopt.harness.hparams import write_hparams
from kerasopt.harness.resume import ResumableRecord, discard_backup, resume_point
from kerasopt.records import one_line_error
from kerasopt.seeding import fix_threads, set_seed


@dataclass(frozen=True)
class Workload:
    """What a task supplies to `execute`.

    Attributes:
        name: the task's name in run records (``settings["task"]``).
        config_cls: its `kerasopt.config.TaskConfig` subclass.
        prepare: ``prepare(config) -> problem``: loads and checks the inputs (one-line ValueError /
            FileNotFoundError), builds what does not depend on the optimizer.
        describe: ``describe(config, problem) -> dict``: record entries beyond the settings.
        train: ``train(config, problem, record, progress, **options) -> summary``: trains, evaluates
            and calls ``record.finish``; ``record.resume`` is the `ResumePoint` of a resumed run.
        resumable: backs up as it trains (`kerasopt.harness.resume`) and resumes after a kill.
        fresh_session: clear the Keras session before seeding (a task that builds its model per run).
    """

    name: str
    config_cls: type
    prepare: Callable[[Any], Any]
    describe: Callable[[Any, Any], dict]
    train: Callable[..., dict]
    resumable: bool = False
    fresh_session: bool = False


def execute(workload: Workload, config, run_dir: str | Path, progress: bool = False, **options) -> dict:
    """One run of ``workload`` with ``config`` (a config or a dict for ``from_dict``) into ``run_dir``.

    Returns:
        The summary dict (status ``completed``, ``diverged`` or ``failed``).

    Raises:
        ValueError / FileNotFoundError: bad settings or inputs, before anything is written.
        OSError: the run directory cannot be created.
    """
    started = time.perf_counter()
    config = workload.config_cls.from_dict(config) if isinstance(config, dict) else config
    config.validate()
    fix_threads(config.threads)
    problem = workload.prepare(config)
    settings = {**config.to_dict(), "task": workload.name, "resolved_hparams": config.resolved_hparams(),
                **workload.describe(config, problem)}
    resume = resume_point(run_dir, settings) if workload.resumable else None
    if resume is None:
        discard_backup(run_dir)
    elif progress:
        print(f"  resuming {run_dir} after {resume.unit} {resume.done}", flush=True)
    with ResumableRecord(run_dir, settings, seed=config.seed, deterministic=config.deterministic,
                         resume=resume, started=started) as record:
        if workload.fresh_session:
            import keras

            keras.backend.clear_session()
        set_seed(config.seed, config.deterministic)
        workload.train(config, problem, record, progress, **options)
    write_hparams(run_dir, settings, record.summary)
    return record.summary


@contextlib.contextmanager
def kept_on_error(metrics: dict, key: str, errors: tuple = (OSError, ValueError)) -> Iterator[None]:
    """A picture or a saved model must not lose the run: ``errors`` raised inside the block are recorded
    as ``metrics[key]`` (one line) and training's result stands."""
    try:
        yield
    except errors as exc:
        metrics[key] = one_line_error(exc)

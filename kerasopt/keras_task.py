"""Your own Keras model and data as a kerasopt task: `KerasTask`.

A study then compares optimizers on it exactly as on the built-in workloads
(tuning trials, held-out seeds, defaults arms, intervals, curves, report)::

    # my_task.py
    import keras, kerasopt

    def build_model(seed: int) -> keras.Model:          # uncompiled; seeded by kerasopt
        ...

    TASK = kerasopt.KerasTask(build_model, train=(x_train, y_train), validation=(x_val, y_val),
                              test=(x_test, y_test), loss="sparse_categorical_crossentropy",
                              metrics=["accuracy"], target="accuracy", mode="max", epochs=5, batch_size=32)

and a study file with ``task: my_task.py:TASK`` (a file, relative to the study
file or the working directory) or ``task: my_package.my_module:TASK`` (an
importable module); or, from Python, ``kerasopt.study.run(study_dict, task=TASK)``.

Data: each split is ``(x, y)`` NumPy arrays, an UNBATCHED ``tf.data.Dataset`` of
``(x, y)`` elements, or a zero-argument callable returning either (called once,
when a run first needs the data). kerasopt batches (``batch_size``) and, for
training, shuffles with the run's seed.

Selection uses the validation value of ``target`` (``val_<target>``); the
report answers with its test value (``test_<target>``, of the weights of the
best validation epoch) when there is a test split.

Identity: every run's settings hold ``task_source`` = ``"<import path>
sha256:<hash>"`` of the task file and the modules beside it that it imports
(`kerasopt.task_source`; comments and formatting do not count), so the run id
changes whenever that code changes and an edited model is never resumed as the
same run. A task file may import modules from its own folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import re
from pathlib import Path
from typing import Any, Callable, ClassVar

import keras

from kerasopt.config import TaskConfig
from kerasopt.harness import EpochRecorder, Workload, backup_callback, best_weights_callback, execute, kept_on_error
from kerasopt.optimizers.evaluation import EvaluationPoint
from kerasopt.task_source import code_digest
from kerasopt.task import Budget, Presentation, Task

MODES = ("min", "max")
SPLITS = ("train", "validation", "test")
BEST_MODEL = "best.keras"
FIT_ITERATORS_PER_EPOCH = 2
"""Iterators Keras 3's ``fit`` makes of a finite dataset per epoch (each draws the next shuffle order): a
resumed run makes that many per completed epoch first (tests/test_harness.py fails if this changes)."""


def source_identity(import_path: str, source: str | Path | None, fallback: Callable | None = None) -> str:
    """``"<import path> sha256:<first 16 hex digits>"`` of the task's code.

    The digest is `kerasopt.task_source.code_digest` of the source file: the file and the local
    modules it imports, comments and formatting aside. Without a readable file (a function typed
    into a notebook) it is the SHA-256 of ``fallback``'s source text (or its code object).
    """
    if source is not None and Path(source).is_file():
        digest = code_digest(source)
    else:
        try:
            text = inspect.getsource(fallback).encode()
        except (OSError, TypeError):
            text = repr(getattr(fallback, "__code__", fallback)).encode()
        digest = hashlib.sha256(text).hexdigest()
    return f"{import_path} sha256:{digest[:16]}"


@dataclasses.dataclass
class KerasConfig(TaskConfig):
    """Settings of one run of a `KerasTask` (one generated subclass per task holds its defaults).

    Attributes:
        epochs: passes over the training data (>= 1).
        batch_size: examples per mini-batch (>= 1).
        task_source: which task ran (`source_identity`); must match the loaded task.
    """

    KIND: ClassVar[str] = "keras"
    TASK: ClassVar[Any] = None

    def check(self) -> None:
        self.require_at_least(1, "epochs", "batch_size")
        self.require_mini_batch_optimizer()
        # the code's digest decides: a Ray worker loads the task by its absolute path, another name for it
        if self.task_source.split()[-1] != self.TASK.identity.split()[-1]:
            raise ValueError(f"task_source {self.task_source!r} is not the loaded task "
                             f"({self.TASK.identity!r}): its source changed")


def _config_class(identity: str, epochs: int, batch_size: int) -> type:
    """A `KerasConfig` subclass whose defaults are a task's epochs, batch size and ``identity``
    (its ``TASK`` is set by the task it belongs to)."""
    return dataclasses.make_dataclass(
        "KerasTaskConfig", [("epochs", int, dataclasses.field(default=epochs)),
                            ("batch_size", int, dataclasses.field(default=batch_size)),
                            ("task_source", str, dataclasses.field(default=identity))],
        bases=(KerasConfig,))


class KerasTask(Task):
    """A Keras model and its data as a task a study runs.

    Args:
        build_model: ``build_model(seed: int) -> keras.Model``, UNCOMPILED (kerasopt compiles it
            with each optimizer); kerasopt seeds Python, NumPy and TensorFlow with ``seed`` first.
        train, validation: the training and validation split (see the module docstring).
        test: the test split (None: the report answers with the validation value).
        loss: what ``model.compile(loss=...)`` accepts.
        metrics: what ``model.compile(metrics=...)`` accepts; must compute ``target`` (or target "loss").
        target: the metric name as Keras logs it (``"accuracy"``); selection uses ``val_<target>``.
        mode: ``"max"`` (higher is better) or ``"min"``.
        epochs, batch_size: default training length and mini-batch size (a study's ``base`` may override).
        optimizers: registry names this task may run (default: every mini-batch optimizer).
        name: the task's name in results (default: set from the import path it is loaded by).
        title: a heading for comparisons.
        source: the file whose code identifies the task in every run (default: ``build_model``'s file;
            a task loaded by import path: the file or module it was loaded from).
        collapse: the task's collapse rule (`kerasopt.records.collapse_reason`), None for none, or
            ``"auto"`` (default): for an accuracy target, a run whose validation accuracy ended at chance
            (the validation split's majority-class share, + 0.01) learnt nothing and counts as a failure;
            no rule otherwise.
        locator: where a study finds the task again (an absolute ``file.py:NAME``; set by the loader).

    Attributes (beyond `kerasopt.task.Task`'s):
        arguments: the constructor arguments (`bound` rebuilds the task from them).
        source: the identifying file, or None.
        identity: ``"<name> sha256:<digest>"`` (`source_identity`), the ``task_source`` of every run.
        locator: see Args.
    """

    arguments: dict
    source: str | None
    identity: str
    locator: str | None

    def __init__(self, build_model: Callable, train: Any, validation: Any, loss: Any, metrics: list,
                 target: str, mode: str = "max", *, test: Any = None, epochs: int = 10, batch_size: int = 32,
                 optimizers: list | None = None, name: str | None = None, title: str | None = None,
                 source: str | Path | None = None, locator: str | None = None, collapse: Any = "auto"):
        from kerasopt import optimizers as registry

        if not callable(build_model):
            raise ValueError(f"build_model must be a function seed -> keras.Model. Received: {build_model!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be 'min' or 'max'. Received: mode={mode!r}")
        if not isinstance(target, str) or not target:
            raise ValueError(f"target must be a metric name such as 'accuracy'. Received: target={target!r}")
        chosen = list(optimizers) if optimizers is not None else registry.mini_batch()
        for optimizer in chosen:
            if registry.is_full_batch_driver(optimizer):  # also: unknown name -> ValueError listing valid ones
                raise ValueError(f"optimizer {optimizer!r} is a full-batch driver; a KerasTask trains on "
                                 f"mini-batches. Valid: {', '.join(registry.mini_batch())}")
        name = name or f"{getattr(build_model, '__module__', 'keras')}.{getattr(build_model, '__qualname__', 'task')}"
        if source is None:
            try:
                source = inspect.getsourcefile(build_model)
            except TypeError:
                source = None
        arguments = {"build_model": build_model, "train": train, "validation": validation, "loss": loss,
                     "metrics": list(metrics), "target": target, "mode": mode, "test": test, "epochs": epochs,
                     "batch_size": batch_size, "optimizers": optimizers, "title": title, "collapse": collapse}
        headline = f"test_{target}" if test is not None else f"val_{target}"
        identity = source_identity(name, source, build_model)
        config_cls = _config_class(identity, _positive(epochs, "epochs"), _positive(batch_size, "batch_size"))
        super().__init__(
            name=name, config_cls=config_cls, run=self._run, target={"metric": f"val_{target}", "mode": mode},
            headline=(headline,), supported=tuple(registry.spec(o).name for o in chosen),
            budget=Budget("epochs"),
            presentation=Presentation(
                title=title or f"Keras task {name}",
                comparison_metrics=tuple(dict.fromkeys((headline, f"val_{target}", "test_loss", "val_loss",
                                                        "best_epoch", "epochs", "steps", "train_seconds"))),
                curve_metrics=tuple(dict.fromkeys(("loss", "val_loss", f"val_{target}"))),
                log_metrics=("loss", "val_loss"),
                comparison_note=f"val_{target}: validation value of the best epoch (used for selection); "
                                "test_*: the test split with that epoch's weights."))
        config_cls.TASK = self
        self._collapse = collapse
        self.arguments = arguments
        self.source = str(source) if source else None
        self.identity = identity
        self.locator = locator
        self._splits = {}

    @property
    def collapse(self):
        """The collapse rule; ``"auto"`` is resolved on first use (`chance_rule`: it reads the validation labels)."""
        if isinstance(self._collapse, str) and self._collapse == "auto":
            self._collapse = self.chance_rule()
        return self._collapse

    @collapse.setter
    def collapse(self, value):
        self._collapse = value

    def chance_rule(self) -> dict | None:
        """``{"kind": "at_chance", ...}`` for an accuracy target whose validation labels are arrays: chance is
        the majority-class share of the validation split; None otherwise."""
        target = self.arguments["target"]
        data = self.split("validation")
        if "accuracy" not in target or self.arguments["mode"] != "max" or not isinstance(data, (tuple, list)):
            return None
        import numpy as np

        labels = np.asarray(data[1])
        labels = labels.argmax(axis=-1) if labels.ndim > 1 and labels.shape[-1] > 1 else labels.reshape(-1)
        _, counts = np.unique(labels, return_counts=True)
        return {"kind": "at_chance", "metric": f"val_{target}", "chance": round(float(counts.max() / counts.sum()), 4),
                "tolerance": 0.01}

    def bound(self, name: str, source: str | Path, locator: str | None = None) -> "KerasTask":
        """This task named ``name`` (the import path it was loaded by), identified by the file ``source``
        and found again at ``locator``."""
        return KerasTask(**{**self.arguments, "name": name, "source": source, "locator": locator})

    # data ------------------------------------------------------------------------------------------------

    def split(self, which: str):
        """The split ``"train"``, ``"validation"`` or ``"test"`` as given (callables called once), or None."""
        if which not in self._splits:
            value = self.arguments[which]
            self._splits[which] = value() if callable(value) else value
        return self._splits[which]

    def dataset(self, which: str, batch_size: int, seed: int | None = None):
        """A batched ``tf.data.Dataset`` of split ``which``; shuffled with ``seed`` when given (training)."""
        import tensorflow as tf

        data = self.split(which)
        if isinstance(data, tf.data.Dataset):
            dataset, size = data, 10_000
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            if len(data[0]) != len(data[1]):
                raise ValueError(f"{which} data: {len(data[0])} inputs but {len(data[1])} targets")
            dataset, size = tf.data.Dataset.from_tensor_slices((data[0], data[1])), len(data[0])
        else:
            raise ValueError(f"{which} data must be (x, y) arrays or an unbatched tf.data.Dataset of (x, y). "
                             f"Received: {type(data).__name__}")
        if seed is not None:
            dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def total_steps(self, config: KerasConfig) -> int | None:
        """Optimizer steps of a whole run: ``epochs`` x the training split's batches (the schedule's length);
        None for a ``tf.data.Dataset`` of unknown size (then only a constant rate without warmup can run)."""
        import tensorflow as tf

        data = self.split("train")
        if isinstance(data, tf.data.Dataset):
            size = int(data.cardinality())
            if size < 0:
                return None
        else:
            size = len(data[0])
        return config.epochs * max(1, math.ceil(size / config.batch_size))

    # one run ---------------------------------------------------------------------------------------------

    def compiled_model(self, config: KerasConfig) -> keras.Model:
        """``build_model(seed)`` compiled with ``config``'s optimizer, checked on one batch of every split.

        Raises:
            ValueError: not an uncompiled ``keras.Model``, data that do not fit it, or a target it
                does not compute (one line each).
        """
        model = self.arguments["build_model"](config.seed)  # seeded by the harness (or unseeded in preflight)
        if not isinstance(model, keras.Model):
            raise ValueError(f"build_model of task {self.name!r} returned {type(model).__name__}, not a keras.Model")
        if getattr(model, "compiled", False) or getattr(model, "optimizer", None) is not None:
            raise ValueError(f"build_model of task {self.name!r} returned a compiled model; return it uncompiled "
                             "(kerasopt compiles it with each optimizer)")
        model.compile(optimizer=config.build_optimizer(self.total_steps(config), model.trainable_variables),
                      loss=self.arguments["loss"], metrics=list(self.arguments["metrics"]))
        logs = {}
        for which in SPLITS:
            logs = self.check_split(model, which) or logs
        metric = self.arguments["target"]
        if metric not in logs:
            raise ValueError(f"target metric {metric!r} is not computed by the model of task {self.name!r}; "
                             f"it reports: {', '.join(logs)}")
        return model

    def check_split(self, model: keras.Model, which: str) -> dict | None:
        """Evaluate ``model`` on one small batch of split ``which``: its logs, None for an absent split.

        Raises:
            ValueError: one line naming the split, the batch shapes, the reason, and whether the
                split is an already batched ``tf.data.Dataset`` (kerasopt batches it itself).
        """
        if self.split(which) is None:
            return None
        x, y = next(iter(self.dataset(which, 4)))
        try:
            _check_input_shape(model, x)
            return model.evaluate(x, y, verbose=0, return_dict=True)
        except Exception as exc:  # Keras raises many types for mismatched shapes
            raise ValueError(f"the {which} data (x {tuple(x.shape)}, y {tuple(y.shape)}) do not fit the model "
                             f"of task {self.name!r}{_batched_hint(self.split(which))}: {_reason(exc)}") from None

    def preflight(self, settings: dict) -> None:
        """Build and check the model and data once, before a study writes anything (ValueError)."""
        keras.backend.clear_session()
        self.compiled_model(self.config_cls.from_dict({"optimizer": self.supported[0], **settings}))

    def _run(self, config: KerasConfig | dict, run_dir: str | Path, progress: bool = False) -> dict:
        """Train one optimizer run and write its run record into ``run_dir``; returns the summary.

        Through the training harness (`kerasopt.harness.execute`): a run killed mid-training continues
        from its last completed epoch when started again with the same settings. Whatever the user's code
        raises (building, training, evaluating, saving) ends the run as ``failed`` with its one-line
        reason; a study checks every split once before it starts (`preflight`), so a failure here is one
        run's, and the study goes on.
        """
        workload = Workload(self.name, self.config_cls, prepare=lambda config: None,
                            describe=lambda config, _: config.schedule_record(self.total_steps(config)),
                            train=self._train, resumable=True, fresh_session=True)
        return execute(workload, config, run_dir, progress)

    def _train(self, config: KerasConfig, _problem, record, progress: bool) -> dict:
        model = self.compiled_model(config)
        metric, mode = self.target["metric"], self.target["mode"]
        resumed = record.resume.rows if record.resume else ()
        recorder = EpochRecorder(record, metric, None, progress, resumed)
        best = best_weights_callback(record.run_dir, metric, mode, recorder.values)
        train = self.dataset("train", config.batch_size, seed=config.seed)
        for _ in range(FIT_ITERATORS_PER_EPOCH * len(resumed)):  # each iterator draws the next shuffle order
            iter(train)
        validation = self.dataset("validation", config.batch_size)
        model.fit(train, validation_data=validation, epochs=config.epochs, verbose=0, shuffle=False,
                  callbacks=[EvaluationPoint(), recorder, best, keras.callbacks.TerminateOnNaN(),
                             backup_callback(record.run_dir)])
        steps = int(model.optimizer.iterations)
        metrics = {"epochs": len(recorder.values), "steps": steps, "evaluations": steps,
                   "train_seconds": recorder.train_seconds}
        if recorder.diverged:
            return record.finish("diverged", metrics, error=recorder.diverged, trace_seconds=recorder.trace_seconds)
        if best.weights is not None:
            model.set_weights(best.weights)
        metrics["best_epoch"] = recorder.best_epoch(mode)
        metrics.update(_prefixed("val", model.evaluate(validation, verbose=0, return_dict=True)))
        if self.split("test") is not None:
            metrics.update(_prefixed("test", model.evaluate(self.dataset("test", config.batch_size), verbose=0,
                                                             return_dict=True)))
        with kept_on_error(metrics, "save_error", errors=(Exception,)):  # a model Keras cannot save must not lose the run
            model.save(record.artifacts / BEST_MODEL)
        return record.finish("completed", metrics, trace_seconds=recorder.trace_seconds)


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
    return value


def _check_input_shape(model: keras.Model, x) -> None:
    """ValueError when a single-input model declares an input shape that ``x`` (a batch) does not have."""
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1 or not hasattr(x, "shape"):
        return
    expected, got = tuple(inputs[0].shape), tuple(x.shape)
    if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
        raise ValueError(f"the model's input has shape {expected}, a batch of this split {got}")


_NOISE = ("Exception encountered", "Graph execution error", "Detected at node", "<stack traces", "[[", "Arguments received")


def _reason(exc: BaseException) -> str:
    """The informative line of a Keras or TensorFlow error: skips the headers ("Exception encountered
    when calling ...", "Graph execution error") and colour codes that cut the reason off."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    useful = [line for line in lines if line and not line.startswith(_NOISE)]
    return useful[0][:300] if useful else type(exc).__name__


def _batched_hint(data: Any) -> str:
    """`` (an already batched tf.data.Dataset: ...)`` when ``data`` looks batched, else ``""``."""
    import tensorflow as tf

    if not isinstance(data, tf.data.Dataset):
        return ""
    spec = data.element_spec[0] if isinstance(data.element_spec, tuple) else data.element_spec
    shape = getattr(spec, "shape", None)
    if shape is not None and shape.rank and shape[0] is None:
        return (f" (the dataset looks batched: its elements have shape {tuple(shape)}; give it unbatched, "
                "kerasopt batches it with batch_size)")
    return ""


def _prefixed(prefix: str, logs: dict) -> dict:
    """``{"loss": 0.3, "accuracy": 0.9}`` -> ``{"<prefix>_loss": 0.3, "<prefix>_accuracy": 0.9}`` (floats)."""
    return {f"{prefix}_{key}": float(value) for key, value in logs.items()}

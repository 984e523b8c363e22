"""Shared test setup: quiet TensorFlow, keep it to the 2 CPU cores; a cheap analytic study task."""

import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from kerasopt import records, tasks
from kerasopt.config import TaskConfig

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """The script ``benchmarks/<name>.py`` as a module (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# sgd's task default learning rate is 0.01; the analytic loss has its minimum at OPTIMUM.
OPTIMUM = {"value": 0.5, "diverges_above": math.inf}


@dataclass
class QuadraticConfig(TaskConfig):
    """Final loss = 1 + (log10(lr) - log10(OPTIMUM))**2 + 0.01 * seed after 4 logged steps (loss falls by
    1 a step); diverged above a threshold rate."""

    KIND = "quadratic"


def quadratic_run(config, run_dir, progress=False):
    rate = config.resolved_hparams()["learning_rate"]
    with records.RunRecord(run_dir, config.to_dict(), seed=config.seed) as record:
        if rate > OPTIMUM["diverges_above"]:
            return record.finish("diverged", {"loss": None}, error="non-finite loss")
        loss = 1 + (math.log10(rate) - math.log10(OPTIMUM["value"])) ** 2 + 0.01 * config.seed
        for step in range(1, 5):  # 4 steps of 2 evaluations and 0.5 s each, falling to the final loss
            record.log({"step": step, "evaluations": 2 * step, "seconds": 0.5 * step, "loss": loss + 4 - step})
        return record.finish("completed", {"loss": loss, "steps": 4, "evaluations": 8})


@pytest.fixture
def quadratic(monkeypatch):
    """The task ``quadratic`` (no TensorFlow): a study of it runs in milliseconds per run."""
    task = tasks.Task("quadratic", QuadraticConfig, quadratic_run, {"metric": "loss", "mode": "min"}, ("loss",),
                      ("sgd", "adam"))
    monkeypatch.setitem(tasks._BUILT, "quadratic", task)  # findable by tasks.get, for this test only
    monkeypatch.setitem(OPTIMUM, "value", 0.5)
    monkeypatch.setitem(OPTIMUM, "diverges_above", math.inf)
    return task



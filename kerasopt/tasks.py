"""The table of tasks: a task name -> the `Task` a study runs (the interface: `kerasopt.task`).

Each built-in task package declares its ``TASK`` in its ``task`` module from its
own constants; `TASKS` maps a task name to that package and `get` imports it on
first use (this module imports no task package at import time). User tasks are
found by import path (`kerasopt.user_tasks`, which builds on `kerasopt.keras_task`,
which builds on `kerasopt.task`: no module imports back).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from kerasopt.task import Budget, Presentation, Task

__all__ = ["Budget", "Presentation", "Task", "TASKS", "get", "register"]


TASKS: dict[str, str] = {"style": "kerasopt.style", "defects": "kerasopt.defects", "faststyle": "kerasopt.faststyle"}
"""Built-in task name -> its package; the package's ``task`` module declares ``TASK``."""
_BUILT: dict[str, Task] = {}
REFERENCE_HELP = "a built-in task ({names}), path/to/file.py:NAME or package.module:NAME (a kerasopt.KerasTask)"


def get(name: str, base_dir: str | Path | None = None) -> Task:
    """The `Task` called ``name``: a built-in task, or a user task by import path.

    Args:
        name: ``"defects"``; ``"path/to/file.py:TASK"`` (relative paths: to ``base_dir``, e.g. the
            study file's folder, then the working directory); or ``"package.module:TASK"``.
        base_dir: where relative file paths are looked up first.

    Raises:
        ValueError: one line: unknown name, a path that does not import, or names nothing / no task.
    """
    name = str(name).strip()
    if name in _BUILT:
        return _BUILT[name]
    if name in TASKS:
        _BUILT[name] = importlib.import_module(f"{TASKS[name]}.task").TASK
        return _BUILT[name]
    if ":" not in name:
        raise ValueError(f"unknown task {name!r}. Valid: {REFERENCE_HELP.format(names=', '.join(TASKS))}")
    from kerasopt import user_tasks

    return user_tasks.load(name, base_dir, _BUILT)


def register(task: Task) -> Task:
    """Make ``task`` findable by `get` under ``task.name`` in this process (the Python API of studies)."""
    if task.name in TASKS:
        raise ValueError(f"task name {task.name!r} is a built-in task; give your task another name")
    _BUILT[task.name] = task
    return task

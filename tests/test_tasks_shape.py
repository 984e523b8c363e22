"""One shape for every task package, and no import cycle between the registry and the packages."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerasopt import tasks

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

PACKAGES = Path(__file__).resolve().parents[1] / "kerasopt"
ROLES = ("__init__.py", "__main__.py", "config.py", "run.py", "task.py")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (``from kerasopt import tasks`` counts as kerasopt.tasks)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_every_task_package_has_the_same_files_and_declares_its_task(name):
    package = PACKAGES / name
    assert all((package / role).is_file() for role in ROLES)
    task = tasks.get(name)
    module = __import__(tasks.TASKS[name], fromlist=["TASK"])
    assert task is module.TASK and task.name == name and task.prepare is not None
    assert {"TASK", "TARGET", "run", "compare", "SUPPORTED_OPTIMIZERS"} <= set(module.__all__)
    assert module.SUPPORTED_OPTIMIZERS == list(task.supported) and module.TARGET == task.target


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_only_the_task_module_of_a_package_imports_the_registry(name):
    for path in (PACKAGES / name).glob("*.py"):
        if path.name != "task.py":
            assert "kerasopt.tasks" not in imported_modules(path), path
    assert not any(module.startswith(tuple(tasks.TASKS.values())) for module in imported_modules(
        PACKAGES / "tasks.py")), "the registry imports no task package"


def test_registry_and_packages_import_in_either_order_in_a_fresh_process():
    code = ("import sys, importlib\n"
            "first = importlib.import_module(sys.argv[1])\n"
            "from kerasopt import tasks\n"
            "print(sorted(tasks.get(n).name for n in tasks.TASKS))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for first in ("kerasopt.tasks", "kerasopt.faststyle.task", "kerasopt.defects"):
        result = subprocess.run([sys.executable, "-c", code, first], capture_output=True, text=True, env=env,
                                timeout=300, cwd=PACKAGES.parent)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines()[-1] == "['defects', 'faststyle', 'style']"


def test_result_images_are_the_files_the_runs_write():
    from kerasopt.defects.train import PREDICTIONS
    from kerasopt.faststyle.train import GRID_FILE
    from kerasopt.style.workload import RESULT_FILE

    assert [tasks.get(n).presentation.result_image for n in ("style", "defects", "faststyle")] == [RESULT_FILE, PREDICTIONS,
                                                                                      GRID_FILE]
    assert tasks.get("faststyle").describe()["result_image"] == "grid.png"  # study.json tells reports the file


def test_unknown_task_names_the_valid_forms():
    with pytest.raises(ValueError, match="unknown task 'nope'. Valid: a built-in task .*file.py:NAME"):
        tasks.get("nope")

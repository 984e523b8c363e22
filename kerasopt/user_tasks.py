"""Loading a user task by import path: ``path/to/file.py:TASK`` or ``package.module:TASK``.

The object found must be a `kerasopt.KerasTask`; it is returned bound to the
reference as written (its name in results) and to its source file (whose code,
with the local modules it imports, is part of every run's identity,
`kerasopt.keras_task.source_identity`). A task file's folder is put first on
``sys.path`` (as ``python file.py`` does), so it may import modules beside it.
Every problem is one ValueError line naming the reference.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def split_reference(reference: str) -> tuple[str, str]:
    """``"a/b.py:TASK"`` -> ``("a/b.py", "TASK")``; ValueError when either side is empty."""
    where, _, attribute = reference.rpartition(":")
    if not where or not attribute.isidentifier():
        raise ValueError(f"task {reference!r}: expected path/to/file.py:NAME or package.module:NAME")
    return where, attribute


def is_file_reference(where: str) -> bool:
    """True for a file path (``.py`` or a slash), False for a dotted module name."""
    return where.endswith(".py") or "/" in where or "\\" in where


def find_file(reference: str, where: str, base_dir: str | Path | None) -> Path:
    """The file ``where`` names: absolute, else under ``base_dir``, else under the working directory."""
    if Path(where).is_absolute():
        candidates = [Path(where)]
    else:
        candidates = ([Path(base_dir) / where] if base_dir is not None else []) + [Path.cwd() / where]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ValueError(f"task {reference!r}: no file {where} (looked in {', '.join(str(c.parent) for c in candidates)})")


def _import_file(reference: str, path: Path) -> ModuleType:
    name = f"kerasopt_user_task_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it executes
    try:
        with _beside(path.parent):
            spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ValueError(f"task {reference!r}: {path} does not import: {_one_line(exc)}") from None
    return module


@contextlib.contextmanager
def _beside(folder: Path):
    """``folder`` first on ``sys.path`` while the task file executes (like ``python file.py``: the modules
    beside it import), and ``sys.path`` as it was afterwards. A task file imports its local modules at
    its top."""
    saved = list(sys.path)
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path[:] = saved


def _import_module(reference: str, where: str) -> ModuleType:
    try:
        return importlib.import_module(where)
    except Exception as exc:  # ImportError, SyntaxError, or whatever the module raises
        raise ValueError(f"task {reference!r}: module {where} does not import: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


def load(reference: str, base_dir: str | Path | None, cache: dict):
    """The `KerasTask` that ``reference`` names, bound to it (cached in ``cache`` by its location).

    Raises:
        ValueError: a malformed reference, a file or module that does not import, a missing
            attribute, or an attribute that is not a `kerasopt.KerasTask`.
    """
    from kerasopt.keras_task import KerasTask

    where, attribute = split_reference(reference)
    if is_file_reference(where):
        path = find_file(reference, where, base_dir)
        location = f"{path}:{attribute}"
    else:
        path, location = None, reference
    if location in cache:
        return cache[location]
    module = _import_file(reference, path) if path else _import_module(reference, where)
    if not hasattr(module, attribute):
        raise ValueError(f"task {reference!r}: {path or where} names nothing called {attribute!r}")
    task = getattr(module, attribute)
    if not isinstance(task, KerasTask):
        raise ValueError(f"task {reference!r}: {attribute} is a {type(task).__name__}, not a kerasopt.KerasTask")
    bound = task.bound(reference, path or getattr(module, "__file__", None), location)
    cache[location] = bound
    return bound

"""Shared CLI plumbing: quiet TensorFlow, one-line errors with exit code 2.

``kerasopt`` (the console script) dispatches to the task CLIs:
``kerasopt optimizers | style ... | defects ... | study ...``.
Set ``KERASOPT_DEBUG=1`` to see full tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, Sequence

USAGE_EXIT = 2


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2."""


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up logging (call before importing TF)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)``; turn user errors into ``error: ...`` on stderr and exit code 2."""
    try:
        return int(main(argv) or 0)
    except (UsageError, ValueError, FileNotFoundError, NotADirectoryError, PermissionError, OSError) as exc:
        if os.environ.get("KERASOPT_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a float >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an int > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def parse_optimizer_list(text: str) -> list[str]:
    """``"adam"``, ``"sgd,adam"`` or ``"all"`` → validated registry names."""
    from kerasopt import optimizers

    if text.strip().lower() == "all":
        return optimizers.available()
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise UsageError("--optimizer needs at least one name (or 'all')")
    for name in names:
        optimizers.spec(name)  # raises with the list of valid names
    return list(dict.fromkeys(names))


def _optimizers_main(argv=None) -> int:
    """Print the registry's default table."""
    from kerasopt.optimizers import defaults_table

    for row in defaults_table():
        print(f"{row['optimizer']:<20} {row['hyperparameter']:<26} {row['value']!s:<10} {row['source']}")
    return 0


_COMMANDS = {"optimizers": None, "style": "kerasopt.style.__main__", "defects": "kerasopt.defects.__main__",
             "study": "kerasopt.study.__main__"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kerasopt`` console script."""
    quiet_tensorflow()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in _COMMANDS:
        print(f"usage: kerasopt {{{','.join(_COMMANDS)}}} ...", file=sys.stderr)
        return USAGE_EXIT
    command, rest = argv[0], argv[1:]
    if command == "optimizers":
        return run_cli(_optimizers_main, rest)
    return importlib.import_module(_COMMANDS[command]).main(rest)

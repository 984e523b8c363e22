"""Shared CLI plumbing: quiet TensorFlow, argparse types, output directories, one-line errors.

``kerasopt`` (the console script) dispatches to the task CLIs:
``kerasopt optimizers | style ... | defects ... | faststyle ... | study ...`` (``kerasopt --help`` lists them).
Set ``KERASOPT_DEBUG=1`` to see full tracebacks and TensorFlow's unfiltered start-up log.

Every task CLI uses the same pieces: `quiet_tensorflow` before TensorFlow is
imported, `ArgumentParser` and `run_cli` around its main function (usage errors
and bad input alike: one ``error:`` line, exit code 2), the argparse types
(`positive_float`, `non_negative_float`, `positive_int`, `seed_type`),
`parse_optimizer_list` (``all`` = the task's optimizers), `prepare_output_dir`
(the one policy for output directories) and `run_comparison`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import importlib.abc
import importlib.util
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

USAGE_EXIT = 2


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2."""


MAX_SEED = 2**32 - 1
"""Largest seed NumPy's legacy ``np.random.seed`` (used by `kerasopt.seeding.set_seed`) accepts."""

# TensorFlow (2.21 here) logs through Abseil; what it logs while its shared libraries load (before
# absl::InitializeLog) reaches stderr whatever TF_CPP_MIN_LOG_LEVEL says. Lines that match these
# patterns, written while TensorFlow is imported and its devices are listed, are dropped; every
# other line is passed on.
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]]+\] ")
_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "failed call to cuInit",                      # CUDA wheels on a machine without a GPU
    "Unable to register cuDNN factory", "Unable to register cuFFT factory", "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
    "To enable the following instructions:",      # 2nd line of the CPU-feature notice
)
_LEVELS = "IWEF"


def _is_start_up_noise(line: str, min_level: int) -> bool:
    """True for a TensorFlow start-up log line below ``min_level`` (0 INFO .. 3 FATAL), or a known-noise
    line unless every message was asked for (``TF_CPP_MIN_LOG_LEVEL=0``)."""
    if min_level > 0 and any(marker in line for marker in _NOISE):
        return True
    match = _ABSL_LINE.match(line)
    return bool(match) and _LEVELS.index(match.group(1)) < min_level


@contextlib.contextmanager
def _filtered_stderr(min_level: int) -> Iterator[None]:
    """Capture file descriptor 2 (C++ and Python writes alike); pass on all but start-up noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not _is_start_up_noise(line, min_level)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _min_log_level() -> int:
    try:
        return max(0, min(3, int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))))
    except ValueError:
        return 0


def _quiet_python_loggers(min_level: int) -> None:
    """absl's and TensorFlow's Python loggers follow TF_CPP_MIN_LOG_LEVEL (2 = errors only)."""
    import logging

    python_level = {0: logging.INFO, 1: logging.WARNING, 2: logging.ERROR, 3: logging.CRITICAL}[min_level]
    logging.getLogger("tensorflow").setLevel(python_level)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity({0: absl_logging.INFO, 1: absl_logging.WARNING, 2: absl_logging.ERROR,
                                    3: absl_logging.FATAL}[min_level])


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """One-shot import hook: ``import tensorflow`` (also through ``import keras``) and its first
    device listing run under `_filtered_stderr`, where the CUDA/oneDNN/absl start-up lines appear."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("tensorflow")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            min_level = _min_log_level()
            with _filtered_stderr(min_level):
                exec_module(module)
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices()  # CUDA initialisation logs here (cuInit)
            _quiet_python_loggers(min_level)

        spec.loader.exec_module = quiet_exec_module  # this loader instance only
        return spec


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up logging; call before TensorFlow is imported.

    - ``TF_CPP_MIN_LOG_LEVEL`` defaults to 2 (C++ errors only; a value you set is kept);
    - the lines TensorFlow's libraries print while loading, which ignore that variable
      (Abseil's "All log messages before absl::InitializeLog()", the oneDNN notice, "Could not
      find cuda drivers", CUDA's "failed call to cuInit" on machines without a GPU, duplicate
      cuDNN/cuFFT/cuBLAS factory registrations), are dropped while ``tensorflow`` is imported
      and its devices are listed; any other line written then is passed on unchanged;
    - absl's and TensorFlow's Python loggers get the same level (2: errors only).

    If TensorFlow is already imported only the Python loggers are changed. ``KERASOPT_DEBUG=1``
    turns all of this off. Idempotent.
    """
    if os.environ.get("KERASOPT_DEBUG"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        _quiet_python_loggers(_min_log_level())
        return
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def quiet_if_entry_point() -> None:
    """`quiet_tensorflow` when this import is part of ``python -m kerasopt.<task>`` (Python sets
    ``sys.argv[0]`` to ``"-m"`` while it locates the module, before the package's ``__main__`` runs);
    a library import (``import kerasopt.style``) changes no global state."""
    if sys.argv[:1] == ["-m"]:
        quiet_tensorflow()


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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every task's help layout: ``(default: ...)`` after each option, except where the default is None or
    False (the help says what happens) or the help already names its default."""

    def _get_help_string(self, action):
        hidden = any(action.default is value for value in (None, False, argparse.SUPPRESS))
        if hidden or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` of every kerasopt CLI: the `HelpFormatter` layout (its subcommands too),
    and usage errors raised as `UsageError` instead of exiting, so that `run_cli` prints them as one
    ``error: ...`` line (exit code 2) like every other bad input."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def add_loss_weight_arguments(parser: argparse.ArgumentParser, defaults) -> None:
    """``--content-weight``, ``--style-weight``, ``--tv-weight`` (>= 0) of the perceptual (Gatys) loss that
    the style and fast-style tasks share; ``defaults``: their config (``content_weight``, ...)."""
    for part, what in (("content", "content loss"), ("style", "style loss"), ("tv", "total-variation loss")):
        parser.add_argument(f"--{part}-weight", type=non_negative_float, default=getattr(defaults, f"{part}_weight"),
                            help=f"weight of the {what} (default: %(default)s)")


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The protocol settings every mini-batch task shares (`kerasopt.config.TaskConfig`): ``--schedule``,
    ``--warmup``, ``--weight-decay``, ``--decay-norm-and-bias``, ``--threads`` and ``--deterministic``."""
    from kerasopt.schedules import SCHEDULES

    parser.add_argument("--schedule", choices=SCHEDULES, default="constant",
                        help="learning rate over the run: constant, or cosine decay to 0 at the last step "
                             "(Schedule-Free AdamW keeps only the warmup)")
    parser.add_argument("--warmup", type=non_negative_float, default=0.0,
                        help="share of the steps warmed up linearly from 0 (0-0.5)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=None,
                        help="decoupled weight decay (lr x wd a step) for every optimizer (default: each "
                             "optimizer's own: AdamW 0.004, most others none)")
    parser.add_argument("--decay-norm-and-bias", action=argparse.BooleanOptionalAction, default=True,
                        help="also decay biases and normalization variables (Keras' behaviour)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="TensorFlow intra- and inter-op threads (default: TensorFlow's choice)")
    add_determinism_argument(parser)


def add_determinism_argument(parser: argparse.ArgumentParser) -> None:
    """``--deterministic``: TensorFlow op determinism (every task; `kerasopt.config.TaskConfig`)."""
    parser.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism: bit-identical reruns on one host")


def training_settings(args: argparse.Namespace) -> dict:
    """The `add_training_arguments` values that are `TaskConfig` settings (``--weight-decay``: `training_hparams`)."""
    return {"schedule": args.schedule, "warmup_fraction": args.warmup,
            "decay_norm_and_bias": args.decay_norm_and_bias, "threads": args.threads,
            "deterministic": args.deterministic}


def training_hparams(args: argparse.Namespace) -> dict:
    """``--lr`` and ``--weight-decay`` as optimizer overrides (only those given)."""
    given = {"learning_rate": getattr(args, "lr", None), "weight_decay": args.weight_decay}
    return {key: value for key, value in given.items() if value is not None}


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0 (``nan`` and ``inf`` are refused)."""
    value = _finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite float >= 0 (``nan`` and ``inf`` are refused)."""
    value = _finite_float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: an int > 0."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def seed_type(text: str) -> int:
    """argparse type: a random seed, an int in [0, 2**32 - 1] (what NumPy's seeding accepts)."""
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32-1 = {MAX_SEED}, got {text}")
    return value


def default_output_dir(task: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<task>/<YYYYmmdd-HHMMSS>``, with ``-2``, ``-3``, ... appended if that already exists."""
    base = Path(root) / task / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def _clear_refusal(out: Path) -> str | None:
    """Why ``--overwrite`` must not empty ``out`` (a home, root, working or repository directory), or None."""
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        return "it is the root or home directory"
    if resolved == cwd or resolved in cwd.parents:
        return "it holds the current working directory"
    if (resolved / ".git").exists() or (resolved / "pyproject.toml").exists():
        return "it looks like a source repository"
    return None


def prepare_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """The one output-directory policy of the kerasopt CLIs: never mix two runs in one directory.

    - missing or empty: created (with parents) and used;
    - not empty: refused with a `UsageError`, unless ``overwrite`` (``--overwrite``), which first
      deletes everything inside it (never a root, home, working or repository directory);
    - a file, or not writable: `OSError` naming the path.

    Args:
        path: the directory (``--out``); see `default_output_dir` for a fresh default.
        overwrite: replace an earlier run's contents.

    Returns:
        The directory, existing, empty and writable.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise OSError(f"cannot write output directory {out}: it is a file")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UsageError(f"output directory {out} is not empty (an earlier run?); "
                             "choose a new --out or pass --overwrite to replace its contents")
        reason = _clear_refusal(out)
        if reason:
            raise UsageError(f"--overwrite refuses to empty {out}: {reason}; choose a dedicated --out")
        for child in out.iterdir():
            try:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            except OSError as exc:
                raise OSError(f"cannot clear output directory {out}: {exc.strerror or exc} ({child})") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise OSError(f"cannot write output directory {out}: {exc.strerror or exc}") from None
    return out


def output_dir(path: str | os.PathLike | None, overwrite: bool, configs: list, task_name: str) -> Path:
    """The output folder of a task CLI: the same command again with the same ``--out`` continues its
    interrupted runs (`resumes`: each resumes from its last backup); otherwise `prepare_output_dir`
    (``None``: `default_output_dir`)."""
    if path and not overwrite and resumes(Path(path), configs):
        print(f"resuming the unfinished runs in {path}", flush=True)
        return Path(path)
    return prepare_output_dir(path or default_output_dir(task_name), overwrite=overwrite)


def resumes(out: Path, configs: list) -> bool:
    """True when ``out`` holds an interrupted run of exactly these settings (the same command again):
    only run folders of these optimizers and comparison files, every recorded setting equal, one run
    unfinished. Anything else in a non-empty ``out`` is refused by `prepare_output_dir`."""
    from kerasopt import records
    from kerasopt.comparison import COMPARISON_FILES, same_settings

    if not out.is_dir() or not any(out.iterdir()):
        return False
    by_name = {config.optimizer: config for config in configs}
    unfinished = False
    for entry in out.iterdir():
        if entry.is_file() and entry.name in COMPARISON_FILES:
            continue
        if not entry.is_dir() or entry.name not in by_name or not same_settings(entry, by_name[entry.name]):
            return False
        unfinished |= not records.is_complete(entry)
    return unfinished


def parse_optimizer_list(text: str, supported: Sequence[str]) -> list[str]:
    """``--optimizer``: ``"adam"``, ``"sgd,adam"`` or ``"all"`` (= ``supported``, a task's optimizers) →
    validated registry names (a name the task cannot run is refused by its config)."""
    from kerasopt import optimizers

    if text.strip().lower() == "all":
        return list(supported)
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise UsageError("--optimizer needs at least one name (or 'all')")
    for name in names:
        optimizers.spec(name)  # raises with the list of valid names
    return list(dict.fromkeys(names))


def run_comparison(task, configs: list, out: Path) -> dict[str, Path]:
    """The end of every task CLI: `kerasopt.comparison.compare` into ``out`` (a line per run), then the
    comparison table and where its files are (one run: its result image)."""
    from kerasopt.comparison import compare, markdown_table, comparison_rows
    from kerasopt.records import ARTIFACTS

    run_dirs = compare(task, configs, out, log=lambda line: print(line, flush=True))
    print(markdown_table(comparison_rows(task, run_dirs)), end="")
    if len(run_dirs) > 1:
        shown = ["comparison.md", "curves.png"] + ["comparison.png"] * bool(task.presentation.result_image)
        print("comparison: " + ", ".join(str(out / name) for name in shown))
    elif task.presentation.result_image:
        print(f"result: {next(iter(run_dirs.values())) / ARTIFACTS / task.presentation.result_image}")
    return run_dirs


def _optimizers_main(argv=None) -> int:
    """Print the registry's default table."""
    ArgumentParser(prog="kerasopt optimizers", description=COMMANDS["optimizers"][1]).parse_args(argv)
    from kerasopt.optimizers import defaults_table

    for row in defaults_table():
        print(f"{row['optimizer']:<20} {row['hyperparameter']:<26} {row['value']!s:<10} {row['source']}")
    return 0


COMMANDS = {
    "optimizers": (None, "list every optimizer with its default hyperparameters and their source"),
    "style": ("kerasopt.style.__main__", "Gatys style transfer under one or more optimizers"),
    "defects": ("kerasopt.defects.__main__", "train the defect-segmentation U-Net under one or more optimizers"),
    "faststyle": ("kerasopt.faststyle.__main__", "train Johnson et al.'s fast style network, or stylize photos"),
    "study": ("kerasopt.study.__main__", "run (or resume) a multi-seed optimizer study, or report on one"),
}
"""Command name -> (module whose ``main(argv)`` runs it, one-line description)."""


def help_text() -> str:
    """What ``kerasopt --help`` prints."""
    width = max(map(len, COMMANDS))
    lines = [_usage(), "", "Fair optimizer comparisons on style transfer, defect segmentation, fast style transfer",
             "and your own Keras models (Keras 3; a study file names yours as task: my_task.py:TASK).", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help  show this help and exit", "  --version   print the version and exit", "",
              "'kerasopt COMMAND --help' shows a command's options and defaults. "
              "KERASOPT_DEBUG=1 shows full tracebacks."]
    return "\n".join(lines) + "\n"


def _usage() -> str:
    return f"usage: kerasopt [-h] [--version] {{{','.join(COMMANDS)}}} ..."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kerasopt`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(help_text(), end="")
        return 0
    if argv[0] == "--version":
        from kerasopt import __version__

        print(f"kerasopt {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(_usage(), file=sys.stderr)
        print(f"kerasopt: error: unknown command {argv[0]!r} (choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return USAGE_EXIT
    quiet_tensorflow()
    command, rest = argv[0], argv[1:]
    if command == "optimizers":
        return run_cli(_optimizers_main, rest)
    return importlib.import_module(COMMANDS[command][0]).main(rest)

"""Seeding helper and the shared CLI plumbing."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasopt import cli
from kerasopt.seeding import set_seed

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


def test_same_seed_same_numbers():
    set_seed(7)
    first = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    set_seed(7)
    second = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert set_seed(7) == {"seed": 7, "deterministic": False}


def test_negative_seed_is_rejected():
    with pytest.raises(ValueError, match="seed"):
        set_seed(-1)


def test_optimizer_list_parsing():
    assert cli.parse_optimizer_list("SGD, adam,sgd", ("adam",)) == ["sgd", "adam"]
    assert cli.parse_optimizer_list("all", ("adam", "rprop")) == ["adam", "rprop"]  # 'all' = the task's optimizers
    with pytest.raises(ValueError, match="Valid names"):
        cli.parse_optimizer_list("sgd,nope", ("sgd",))


def test_run_cli_turns_user_errors_into_one_line_and_exit_2(capsys):
    def main(argv):
        cli.parse_optimizer_list("nope", ())

    assert cli.run_cli(main, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown optimizer 'nope'") and err.count("\n") == 1


def test_console_script_lists_the_registry():
    result = subprocess.run([sys.executable, "-c", "import sys; from kerasopt.cli import main; sys.exit(main())",
                             "optimizers"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "adadelta" in result.stdout and "paper-era" in result.stdout
    assert result.stderr == ""  # no TensorFlow start-up lines (oneDNN, CUDA, absl)
    bad = subprocess.run([sys.executable, "-c", "import sys; from kerasopt.cli import main; sys.exit(main())",
                          "nonsense"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "usage: kerasopt" in bad.stderr and "unknown command 'nonsense'" in bad.stderr


def test_threads_are_fixed_before_tensorflow_runs_and_refused_after(tmp_path):
    """In a fresh process: fix_threads(1) sets both pools and the run record names them; a later, different
    count is a one-line ValueError (TensorFlow cannot change its pools once it runs)."""
    import json

    script = (
        "import json, tensorflow as tf\n"
        "from kerasopt import records\nfrom kerasopt.seeding import fix_threads\n"
        "fix_threads(1)\n"
        "tf.constant(1.0) + 1\n"
        "print(json.dumps(records.thread_pools()))\n"
        "fix_threads(1)\n"  # the same count again: nothing to change
        "try:\n    fix_threads(2)\nexcept ValueError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[0]) == {"intra_op": 1, "inter_op": 1}, out.stderr[-2000:]
    assert lines[1].startswith("threads=2 cannot be set: TensorFlow already runs in this process with 1 intra-op")

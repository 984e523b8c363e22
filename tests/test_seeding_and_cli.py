"""Seeding helper and the shared CLI plumbing."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasopt import cli
from kerasopt.seeding import set_seed


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

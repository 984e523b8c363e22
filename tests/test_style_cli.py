"""python -m kerasopt.style: several optimizers -> comparison files; bad input -> one line, exit 2."""

import os
import subprocess
import sys

import pytest

from kerasopt.records import read_summary
from kerasopt.style.__main__ import build_parser, main

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

TINY = ["--size", "32", "--iterations", "3"]


def test_several_optimizers_write_records_and_comparison(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--optimizer", "sgd,lbfgs", *TINY, "--out", str(out)]) == 0
    for name in ("sgd", "lbfgs"):
        assert read_summary(out / name)["status"] == "completed"
        assert (out / name / "artifacts" / "result.png").is_file()
    for name in ("comparison.png", "curves.png", "comparison.md"):
        assert (out / name).stat().st_size > 0
    table = (out / "comparison.md").read_text()
    assert "| sgd | completed |" in table and "| lbfgs | completed |" in table and "peak_rss_mb" in table
    assert "| lbfgs | completed |" in capsys.readouterr().out


def test_a_diverging_optimizer_is_recorded_and_the_others_continue(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--optimizer", "momentum,adam", "--lr", "1e38", "--size", "32", "--iterations", "6",
                 "--out", str(out)]) == 0
    assert read_summary(out / "momentum")["status"] == "diverged"
    assert read_summary(out / "adam")["status"] == "completed"
    assert "| momentum | diverged |" in (out / "comparison.md").read_text()


def bad_image(tmp_path):
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(b"\xff\xd8\xff garbage")
    return str(path)


@pytest.mark.parametrize("arguments, message", [
    (lambda tmp: ["--content", str(tmp / "missing.jpg")], "content image not found"),
    (lambda tmp: ["--style", bad_image(tmp)], "cannot decode style image"),
    (lambda tmp: ["--size", "8"], "at least 16 px"),
    (lambda tmp: ["--optimizer", "newton"], "Unknown optimizer"),
    (lambda tmp: ["--optimizer", "lbfgs", "--lr", "0.1"], "--lr does not apply to lbfgs"),
    (lambda tmp: ["--out", str(tmp / "file.txt" / "sub")], "cannot write output directory"),
    (lambda tmp: ["--weights", str(tmp / "none.h5")], "weights file not found"),
    (lambda tmp: ["--optimizer", "adam", "--lr", "inf"], "argument --lr: must be a finite number, got inf"),
    (lambda tmp: ["--optimizer", "adam", "--lr", "nan"], "argument --lr: must be a finite number, got nan"),
    (lambda tmp: ["--style-weight", "inf"], "argument --style-weight: must be a finite number, got inf"),
    (lambda tmp: ["--seed", str(2**32)], "argument --seed: must be between 0 and 2**32-1 = 4294967295"),
    (lambda tmp: ["--seed", "-1"], "argument --seed: must be between 0 and 2**32-1"),
    (lambda tmp: ["--size", "100000"], "--size 100000 needs about 34,227.2 GiB of memory (100000x75000 px"),
    (lambda tmp: ["--size", "100000", "--style", "pattern", "--content", "pattern"],
     "--size 100000 needs about 45,635.9 GiB of memory (100000x100000 px"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, arguments, message):
    (tmp_path / "file.txt").write_text("a file, not a directory")
    code = main([*TINY, "--out", str(tmp_path / "out"), *arguments(tmp_path)])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("error: ") and message in error and "\n" not in error
    assert "Traceback" not in error


def test_help_shows_the_defaults():
    text = build_parser().format_help()
    for default in ("(default: lbfgs)", "(default: 256)", "(default: vgg16-hed)", "(default: starry-night)",
                    "(default: 0.01)", "(default: runs/style/<timestamp>)", "(default: refuse)"):
        assert default in text
    parser = build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:  # every option with a value says its default (a switch is off)
        if action.dest != "help" and action.default is not False:
            assert "(default: " in formatter._get_help_string(action), action.dest


def test_a_size_that_does_not_fit_is_refused_before_anything_is_allocated(tmp_path, capsys, monkeypatch):
    from kerasopt.style import images

    monkeypatch.setattr(images, "available_memory_bytes", lambda: 2**30)  # a 1 GiB machine
    assert main(["--size", "1024", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == ("error: --size 1024 needs about 4.7 GiB of memory (1024x768 px: image, "
                                       "vgg16-hed activations and gradients) but only 1.0 GiB is available; "
                                       "use a smaller --size\n")
    assert not (tmp_path / "out").exists()


def earlier_run(out):
    (out / "lbfgs" / "artifacts").mkdir(parents=True)
    (out / "lbfgs" / "summary.json").write_text('{"status": "completed"}')
    (out / "comparison.md").write_text("| lbfgs | completed |")
    return out


def test_an_existing_run_directory_is_refused_and_kept(tmp_path, capsys):
    out = earlier_run(tmp_path / "out")
    assert main(["--optimizer", "sgd", *TINY, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error == (f"error: output directory {out} is not empty (an earlier run?); "
                     "choose a new --out or pass --overwrite to replace its contents\n")
    assert sorted(p.name for p in out.iterdir()) == ["comparison.md", "lbfgs"]


def test_overwrite_replaces_the_earlier_run_entirely(tmp_path, capsys):
    out = earlier_run(tmp_path / "out")
    assert main(["--optimizer", "sgd", *TINY, "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["sgd"]  # no stale lbfgs run, no stale comparison.md
    assert read_summary(out / "sgd")["status"] == "completed"


def test_the_command_line_prints_no_tensorflow_start_up_lines(tmp_path):
    """A real process, TF_CPP_MIN_LOG_LEVEL unset: --help and a tiny run write nothing to stderr but progress."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERASOPT_DEBUG")}
    command = [sys.executable, "-m", "kerasopt.style"]
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=300, env=env)
    assert helped.returncode == 0 and "(default: lbfgs)" in helped.stdout and helped.stderr == ""
    ran = subprocess.run([*command, "--optimizer", "sgd", "--size", "32", "--iterations", "2",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300, env=env)
    assert ran.returncode == 0 and "| sgd | completed |" in ran.stdout
    progress = [line for line in ran.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert progress and all(line.startswith("sgd:") for line in progress), progress  # tqdm lines only

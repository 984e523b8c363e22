"""python -m kerasopt.style: several optimizers -> comparison files; bad input -> one line, exit 2."""

import pytest

from kerasopt.records import read_summary
from kerasopt.style.__main__ import build_parser, main

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
                    "(default: 0.01)"):
        assert default in text

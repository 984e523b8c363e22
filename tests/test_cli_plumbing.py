"""kerasopt.cli: the command list, argparse types, the output-directory policy, quiet TensorFlow."""

import argparse
import os
import subprocess
import sys
import textwrap

import pytest

from kerasopt import cli

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


@pytest.mark.parametrize("argv", [["--help"], ["-h"], []])
def test_help_lists_every_command_with_one_line_and_exits_0(capsys, argv):
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: kerasopt")
    for name, (_, description) in cli.COMMANDS.items():
        assert f"  {name}" in out and description in out and "\n" not in description
    assert set(cli.COMMANDS) == {"optimizers", "style", "defects", "faststyle", "study"}


def test_unknown_command_is_a_usage_line_and_exit_2(capsys):
    assert cli.main(["stylize"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and lines[0].startswith("usage: kerasopt ") and "unknown command 'stylize'" in lines[1]


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("kerasopt ")


def test_optimizers_command_has_its_own_help_and_refuses_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["optimizers", "--help"])
    assert exit_.value.code == 0 and "usage: kerasopt optimizers" in capsys.readouterr().out
    assert cli.main(["optimizers", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err == "error: unrecognized arguments: --bogus (see kerasopt optimizers --help)\n"


@pytest.mark.parametrize("parse", [cli.positive_float, cli.non_negative_float])
@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "NaN", "1e999"])
def test_float_types_refuse_non_finite_numbers(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match="must be a finite number"):
        parse(text)


def test_float_types_accept_finite_numbers_and_check_the_sign():
    assert cli.positive_float("1e-3") == 1e-3 and cli.non_negative_float("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="must be positive"):
        cli.positive_float("0")
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number"):
        cli.non_negative_float("fast")


def test_seed_type_accepts_exactly_what_numpy_seeding_accepts():
    assert cli.seed_type("0") == 0 and cli.seed_type(str(2**32 - 1)) == 2**32 - 1
    for text in (str(2**32), "-1"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"between 0 and 2\*\*32-1 = 4294967295"):
            cli.seed_type(text)
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer"):
        cli.seed_type("1.5")


def test_argument_parser_errors_become_one_line_and_exit_2(capsys):
    def main(argv):
        parser = cli.ArgumentParser(prog="tool")
        parser.add_argument("--lr", type=cli.positive_float)
        parser.parse_args(argv)

    assert cli.run_cli(main, ["--lr", "inf"]) == 2
    assert capsys.readouterr().err == "error: argument --lr: must be a finite number, got inf (see tool --help)\n"


def test_output_dir_new_or_empty_is_used(tmp_path):
    assert cli.prepare_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()
    assert cli.prepare_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"  # still empty: fine


def earlier_run(out):
    (out / "lbfgs" / "artifacts").mkdir(parents=True)
    (out / "lbfgs" / "summary.json").write_text("{}")
    (out / "comparison.md").write_text("stale")
    return out


def test_output_dir_with_an_earlier_run_is_refused_and_left_alone(tmp_path):
    out = earlier_run(tmp_path / "out")
    with pytest.raises(cli.UsageError, match=r"output directory .*out is not empty .*pass --overwrite"):
        cli.prepare_output_dir(out)
    assert (out / "comparison.md").read_text() == "stale" and (out / "lbfgs" / "summary.json").is_file()


def test_overwrite_empties_the_directory_without_following_links(tmp_path):
    out = earlier_run(tmp_path / "out")
    keep = tmp_path / "elsewhere"
    keep.mkdir()
    (keep / "precious.txt").write_text("keep me")
    (out / "link").symlink_to(keep, target_is_directory=True)
    assert cli.prepare_output_dir(out, overwrite=True) == out
    assert list(out.iterdir()) == []
    assert (keep / "precious.txt").read_text() == "keep me"


def test_overwrite_never_empties_the_working_or_a_repository_directory(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "notes.txt").write_text("x")
    monkeypatch.chdir(work / "sub")
    with pytest.raises(cli.UsageError, match="holds the current working directory"):
        cli.prepare_output_dir(work, overwrite=True)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    with pytest.raises(cli.UsageError, match="looks like a source repository"):
        cli.prepare_output_dir(repo, overwrite=True)
    assert (work / "notes.txt").exists() and (repo / ".git").is_dir()


def test_output_dir_that_is_a_file_or_below_one_is_an_oserror(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for path in (tmp_path / "file.txt", tmp_path / "file.txt" / "sub"):
        with pytest.raises(OSError, match="cannot write output directory"):
            cli.prepare_output_dir(path, overwrite=True)


def test_default_output_dir_never_reuses_an_existing_one(tmp_path):
    first = cli.default_output_dir("style", root=tmp_path)
    assert first.parent == tmp_path / "style" and not first.exists()
    first.mkdir(parents=True)
    second = cli.default_output_dir("style", root=tmp_path)
    assert second != first and second.name.startswith(first.name) and not second.exists()


NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795902347.104149    4213 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1795902347.104484    4213 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    "GPU will not be used.",
    "E0000 00:00:1795902439.967701    4946 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)",
    "W0000 00:00:1795902439.967701    4946 some_file.cc:1] a C++ warning",
]


def test_start_up_filter_drops_noise_and_passes_everything_else_on():
    """C-level writes to fd 2 inside the filter: only the real error survives."""
    lines = [*NOISE, "E0000 00:00:1795902439.967701    4946 op.cc:9] a real C++ error", "Traceback: something broke"]
    payload = ("\n".join(lines) + "\n").encode()
    script = textwrap.dedent(f"""
        import os, sys
        from kerasopt import cli
        with cli._filtered_stderr(min_level=2):
            os.write(2, {payload!r})
            print("python warning", file=sys.stderr)
        print("after", file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr.splitlines() == ["E0000 00:00:1795902439.967701    4946 op.cc:9] a real C++ error",
                                          "Traceback: something broke", "python warning", "after"]


def without_tf_logging_env():
    return {key: value for key, value in os.environ.items()
            if key not in ("TF_CPP_MIN_LOG_LEVEL", "KERASOPT_DEBUG", "TF_ENABLE_ONEDNN_OPTS")}


def test_importing_tensorflow_after_quiet_tensorflow_prints_nothing():
    script = ("from kerasopt import cli; cli.quiet_tensorflow(); import keras, tensorflow as tf; "
              "tf.config.list_physical_devices(); print(tf.constant(2.0).numpy() * 2)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env=without_tf_logging_env())
    assert result.returncode == 0 and result.stdout.strip() == "4.0"
    assert result.stderr == ""


def test_without_quiet_tensorflow_the_start_up_lines_do_appear():
    """The control: this TensorFlow does print start-up lines (so the test above can fail)."""
    script = "import tensorflow as tf; tf.config.list_physical_devices()"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env=without_tf_logging_env())
    assert result.returncode == 0
    assert "absl::InitializeLog" in result.stderr or "oneDNN" in result.stderr or "cuInit" in result.stderr


def test_level_0_asks_for_every_start_up_line():
    assert all(cli._is_start_up_noise(line, 2) for line in NOISE)
    assert not any(cli._is_start_up_noise(line, 0) for line in NOISE)
    assert not cli._is_start_up_noise("a line of Python output", 2)


def test_every_mini_batch_cli_sets_the_schedule_weight_decay_and_threads():
    from kerasopt.defects.__main__ import parse_args
    from kerasopt.faststyle.__main__ import build_parser, configs_from_args

    args = build_parser().parse_args(["train", "--optimizer", "adamw,lion", "--schedule", "cosine", "--warmup", "0.1",
                                      "--weight-decay", "0.04", "--no-decay-norm-and-bias", "--threads", "1"])
    for config in configs_from_args(args):
        assert (config.schedule, config.warmup_fraction, config.decay_norm_and_bias, config.threads) == \
            ("cosine", 0.1, False, 1)
        assert config.hparams == {"weight_decay": 0.04} and config.resolved_hparams()["weight_decay"] == 0.04
    plain = configs_from_args(build_parser().parse_args(["train", "--optimizer", "adam"]))[0]
    assert "schedule" not in plain.to_dict() and plain.hparams == {}  # the old behaviour, the old run ids
    defects = parse_args(["--optimizer", "adam", "--schedule", "cosine", "--lr", "0.002"])
    assert (defects.schedule, defects.lr, defects.weight_decay) == ("cosine", 0.002, None)


def _help(build) -> str:
    parser = build()
    return " ".join(parser.format_help().split())


def test_every_task_cli_has_one_help_layout_defaults_shown_once_and_none_hidden():
    from kerasopt.defects.__main__ import parse_args
    from kerasopt.faststyle.__main__ import build_parser as faststyle_parser
    from kerasopt.study.__main__ import build_parser as study_parser
    from kerasopt.style.__main__ import build_parser as style_parser

    with pytest.raises(SystemExit):  # the defect CLI builds and parses in one call
        parse_args(["--help"])
    faststyle = faststyle_parser()
    train = faststyle._subparsers._group_actions[0].choices["train"]
    for parser in (style_parser(), train, study_parser()):
        assert isinstance(parser.formatter_class(prog="x"), cli.HelpFormatter)
    style, train_help = _help(style_parser), " ".join(train.format_help().split())
    assert "long side of the images in px (default: 256)" in style
    assert "(default: None)" not in style and "(default: False)" not in style
    assert "(default: None)" not in train_help and "(default: False)" not in train_help
    assert "optimizer steps (mini-batches) (default: 1000)" in train_help
    assert "(default: %(default)s) (default:" not in style


def test_help_formatter_adds_a_default_only_where_the_help_does_not_say_it():
    parser = cli.ArgumentParser(prog="tool")
    parser.add_argument("--a", type=int, default=3, help="a number")
    parser.add_argument("--b", default=None, help="a path (default: the bundled one)")
    parser.add_argument("--c", action="store_true", help="a switch")
    parser.add_argument("--d", default="x", help="already says its default here")
    parser.add_argument("--e", type=int, default=0, help="a count")
    text = " ".join(parser.format_help().split())
    assert "a number (default: 3)" in text
    assert "a path (default: the bundled one)" in text and "(default: None)" not in text
    assert "a switch" in text and "(default: False)" not in text
    assert "a count (default: 0)" in text  # 0 == False, yet shown
    assert "already says its default here --" in text or text.endswith("already says its default here")

"""kerasopt.faststyle: network, photo split, config, runs, CLI (tiny: 32-64 px, narrow networks, a few steps)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerasopt.faststyle import FastStyleConfig, supported_optimizers
from kerasopt.faststyle.__main__ import main
from kerasopt.records import read_config, read_history, read_summary
from kerasopt.style.images import read_rgb, save_image

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

REPO = Path(__file__).resolve().parents[1]
TINY = {"size": 32, "steps": 4, "batch_size": 2, "width": 0.125, "eval_every": 2, "log_every": 2}


def write_photos(folder: Path, count: int, shape=(40, 56), seed=0) -> list[Path]:
    """``count`` random smooth colour photos (PNG) of ``shape`` (height, width) px."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.float32)
        photo = np.kron(coarse, np.ones((shape[0] // 4 + 1, shape[1] // 4 + 1, 1)))[:shape[0], :shape[1]]
        paths.append(save_image(photo, folder / f"photo_{index:02d}.png"))
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos") / "set", 6)[0].parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory, photos):
    """One CLI comparison of sgd and adam on the tiny photo folder: its output folder."""
    out = tmp_path_factory.mktemp("train") / "out"
    code = main(["train", "--optimizer", "sgd,adam", "--size", "32", "--steps", "4", "--batch-size", "2",
                 "--width", "0.125", "--eval-every", "2", "--data", str(photos), "--out", str(out)])
    assert code == 0
    return out


def test_a_killed_comparison_started_again_keeps_finished_runs_and_resumes_to_a_straight_result(tmp_path, photos):
    from test_defects_resume import command

    arguments = ["train", "--optimizer", "sgd,adam", "--size", "32", "--steps", "6", "--batch-size", "2", "--width",
                 "0.125", "--eval-every", "2", "--data", str(photos), "--deterministic"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    def train(out, kill_after=None):
        return subprocess.run(command("kerasopt.faststyle", [*arguments, "--out", str(out)], kill_after),
                              capture_output=True, text=True, env=env, timeout=600)

    killed = train(tmp_path / "resumed", kill_after=3)  # sgd backs up at steps 2 and 4; adam killed after step 2
    run = tmp_path / "resumed" / "adam"
    assert killed.returncode == -9 and (run / "backup").is_dir(), killed.stderr[-2000:]
    assert [row["step"] for row in read_history(run)] == [0, 2] and not (run / "summary.json").exists()
    finished_sgd = (tmp_path / "resumed" / "sgd" / "summary.json").read_text()
    resumed = train(tmp_path / "resumed")
    assert resumed.returncode == 0 and "resuming" in resumed.stdout, resumed.stderr[-2000:]
    assert (tmp_path / "resumed" / "sgd" / "summary.json").read_text() == finished_sgd  # kept, not rerun
    straight = train(tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]

    def without_seconds(run_dir):
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in read_history(run_dir)]
        metrics = {k: v for k, v in read_summary(run_dir)["metrics"].items() if "seconds" not in k}
        return rows, metrics

    assert without_seconds(run) == without_seconds(tmp_path / "straight" / "adam")  # bit for bit
    assert read_config(run)["resumed"][0]["from_step"] == 2 and not (run / "backup").exists()


# --- the network -------------------------------------------------------------------------------------


def test_network_keeps_the_shape_and_outputs_pixels_in_0_255():
    from kerasopt.faststyle.model import build_transformer

    model = build_transformer(width=0.125)
    batch = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    result = np.asarray(model(batch))
    assert result.shape == (2, 32, 48, 3)
    assert result.min() >= 0.0 and result.max() <= 255.0 and result.std() > 1.0


def test_network_follows_johnson_with_resize_convolutions():
    import keras

    from kerasopt.faststyle.model import ResidualBlock, build_transformer, scaled_channels

    model = build_transformer(width=1.0)
    assert scaled_channels(1.0) == (32, 64, 128) and scaled_channels(0.25) == (8, 16, 32)
    assert sum(isinstance(layer, ResidualBlock) for layer in model.layers) == 5
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in model.layers)
    assert [layer.interpolation for layer in model.layers if isinstance(layer, keras.layers.UpSampling2D)] == [
        "nearest", "nearest"]
    assert model.get_layer("down0_conv").kernel.shape == (9, 9, 3, 32)
    assert model.get_layer("out_conv").kernel.shape == (9, 9, 32, 3)
    with pytest.raises(ValueError, match="width"):
        build_transformer(width=0)


def test_instance_normalization_matches_group_normalization_with_one_channel_per_group():
    import keras

    from kerasopt.faststyle.model import InstanceNormalization

    x = np.random.default_rng(1).normal(3.0, 2.0, (2, 5, 7, 4)).astype("float32")
    ours = np.asarray(InstanceNormalization()(x))
    reference = np.asarray(keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)(x))
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(ours.mean(axis=(1, 2)), 0.0, atol=1e-5)


def test_a_saved_network_reloads_with_plain_load_model_in_a_fresh_process(tmp_path):
    from kerasopt.faststyle.model import build_transformer

    model = build_transformer(width=0.125)
    batch = np.random.default_rng(2).uniform(0, 255, (1, 36, 40, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "input.npy", batch)
    np.save(tmp_path / "expected.npy", np.asarray(model(batch)))
    script = ("import sys, numpy as np, keras, kerasopt.faststyle.model\n"
              "d = sys.argv[1]\n"
              "m = keras.models.load_model(d + '/model.keras')\n"
              "np.save(d + '/reloaded.npy', np.asarray(m(np.load(d + '/input.npy'))))\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=REPO,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "reloaded.npy"), np.load(tmp_path / "expected.npy"))


def test_a_saved_network_reloads_after_importing_the_package_in_a_fresh_process(tmp_path):
    """README: ``import kerasopt.faststyle`` is enough for plain ``keras.models.load_model``."""
    from kerasopt.faststyle.model import build_transformer

    build_transformer(width=0.125).save(tmp_path / "model.keras")
    code = ("import sys, keras, kerasopt.faststyle\n"
            "model = keras.models.load_model(sys.argv[1])\n"
            "print(type(model.get_layer('residual0')).__name__)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.keras")], capture_output=True,
                            text=True, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "ResidualBlock"


# --- photos ----------------------------------------------------------------------------------------------


def test_the_split_holds_out_whole_files_and_does_not_depend_on_their_order(tmp_path):
    from kerasopt.faststyle.data import split_photos

    write_photos(tmp_path / "a", 5)
    write_photos(tmp_path / "b" / "deeper", 5, seed=1)
    split = split_photos(tmp_path, val_photos=3)
    assert len(split.val) == 3 and len(split.train) == 7
    assert not set(split.train) & set(split.val)
    # renaming nothing, re-listing in another process order: the same split
    assert split_photos(tmp_path, val_photos=3) == split
    # the held-out files are a fixed choice: a smaller val set is a subset of the larger one
    assert set(split_photos(tmp_path, val_photos=2).val) < set(split.val)


def test_train_and_val_subfolders_are_the_split(tmp_path):
    from kerasopt.faststyle.data import split_photos

    write_photos(tmp_path / "train", 3)
    write_photos(tmp_path / "val", 2, seed=5)
    split = split_photos(tmp_path, val_photos=4)
    assert [Path(p).parent.name for p in split.val] == ["val", "val"]
    assert [Path(p).parent.name for p in split.train] == ["train"] * 3


def test_the_default_corpus_holds_out_tubingen_and_two_skimage_photos(tmp_path, monkeypatch):
    from kerasopt.faststyle.data import CORPUS_TRAIN, load_split

    monkeypatch.setenv("KERASOPT_CACHE", str(tmp_path))
    split = load_split(None, val_photos=4)
    val_names = sorted(Path(p).stem for p in split.val)
    assert val_names == ["chelsea", "coffee", "tubingen"]
    assert sorted(Path(p).stem for p in split.train) == sorted(CORPUS_TRAIN)
    assert max(read_rgb(split.val[-1]).shape[:2]) <= 512
    assert load_split(None, val_photos=4) == split  # built once, then reused


def test_training_crops_are_seeded_squares_in_pixel_range(photos):
    from kerasopt.faststyle.data import split_photos, training_dataset

    split = split_photos(photos, 2)
    first = next(iter(training_dataset(split.train, 32, 3, seed=7))).numpy()
    again = next(iter(training_dataset(split.train, 32, 3, seed=7))).numpy()
    other = next(iter(training_dataset(split.train, 32, 3, seed=8))).numpy()
    assert first.shape == (3, 32, 32, 3) and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 255
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1.0


@pytest.mark.parametrize("make, message", [
    (lambda d: d.mkdir(), "no photos"),
    (lambda d: None, "photo folder not found"),
    (lambda d: write_photos(d, 3, shape=(12, 40)), "too small"),
    (lambda d: (write_photos(d, 3), (d / "broken.jpg").write_bytes(b"not a jpeg")), "cannot read photo"),
    (lambda d: write_photos(d, 2), "at least one is needed for training"),
])
def test_bad_photo_folders_raise_one_line(tmp_path, make, message):
    from kerasopt.faststyle.train import prepare

    folder = tmp_path / "photos"
    make(folder)
    with pytest.raises(ValueError, match=message) as error:
        prepare(FastStyleConfig(data=str(folder), val_photos=2, **TINY))
    assert "\n" not in str(error.value)


# --- settings ---------------------------------------------------------------------------------------------


def test_config_round_trips_and_coerces_yaml_strings():
    config = FastStyleConfig.from_dict({"optimizer": "adam", "size": "64", "style_weight": "1e-2",
                                        "hparams": {"learning_rate": "1e-3"}, "max_seconds": "30"})
    assert config.size == 64 and config.style_weight == 0.01 and config.hparams == {"learning_rate": 0.001}
    assert FastStyleConfig.from_dict(config.to_dict()) == config
    assert config.validate() is config


@pytest.mark.parametrize("values, message", [
    ({"optimizer": "lbfgs"}, "full-batch driver"),
    ({"optimizer": "newton"}, "Unknown optimizer"),
    ({"size": 30}, "multiple of 4"),
    ({"colour": 1}, "unknown faststyle setting"),
    ({"width": -1.0}, "width"),
    ({"hparams": {"momentum_x": 1}}, "no hyperparameter"),
])
def test_bad_settings_raise_value_errors(values, message):
    with pytest.raises(ValueError, match=message):
        FastStyleConfig.from_dict(values).validate()


def test_supported_optimizers_are_all_but_the_full_batch_drivers():
    from kerasopt import optimizers

    drivers = {"lbfgs", "lbfgs_scipy", "hessian_free"}
    assert supported_optimizers() == [name for name in optimizers.available() if name not in drivers]


# --- runs --------------------------------------------------------------------------------------------------


def test_training_writes_a_run_record_per_optimizer_and_a_comparison(trained):
    for name in ("sgd", "adam"):
        summary = read_summary(trained / name)
        assert summary["status"] == "completed", summary["error"]
        metrics = summary["metrics"]
        assert metrics["steps"] == metrics["evaluations"] == 4
        assert np.isfinite(metrics["val_loss"]) and metrics["val_loss"] > 0
        assert metrics["style_ratio"] == pytest.approx(metrics["val_style_loss"] / metrics["photo_style_loss"])
        history = read_history(trained / name)
        assert [row["step"] for row in history] == [0, 2, 4]
        assert all(row["val_loss"] is not None for row in history)
        assert list(history[0])[:4] == ["step", "evaluations", "seconds", "loss"]
        assert (trained / name / "artifacts" / "model.keras").is_file()
        grid = read_rgb(trained / name / "artifacts" / "grid.png")
        assert grid.shape[0] == 2 * 32 + 4  # two rows of 32 px and a gap
        assert read_config(trained / name)["settings"]["task"] == "faststyle"
    # identical initial weights and data: the same step-0 losses under both optimizers
    assert read_history(trained / "sgd")[0]["val_loss"] == read_history(trained / "adam")[0]["val_loss"]
    assert "| adam | completed |" in (trained / "comparison.md").read_text()
    assert (trained / "curves.png").stat().st_size > 0


def test_a_non_finite_loss_is_recorded_as_diverged(tmp_path, photos):
    from kerasopt.faststyle import run

    config = FastStyleConfig(optimizer="sgd", hparams={"learning_rate": 1e30}, data=str(photos), val_photos=2,
                             **{**TINY, "steps": 6})
    summary = run(config, tmp_path / "run")
    assert summary["status"] == "diverged"
    assert "non-finite" in summary["error"] and summary["metrics"]["val_loss"] is None
    assert not (tmp_path / "run" / "artifacts" / "model.keras").exists()


def test_a_short_adam_run_moves_held_out_photos_towards_the_style(tmp_path, monkeypatch):
    """The fast version of benchmarks/faststyle_train.py: 64 px, narrow network, 40 steps."""
    from kerasopt.faststyle import run

    monkeypatch.setenv("KERASOPT_CACHE", str(tmp_path / "cache"))
    config = FastStyleConfig(size=64, steps=40, batch_size=2, width=0.25, eval_every=40)
    summary = run(config, tmp_path / "run")
    metrics = summary["metrics"]
    assert summary["status"] == "completed"
    assert metrics["style_ratio"] < 0.5
    assert metrics["val_loss"] < 0.5 * metrics["initial_val_loss"]


# --- CLI -----------------------------------------------------------------------------------------------------


def test_stylize_keeps_sizes_and_prints_images_per_second(trained, tmp_path, capsys):
    inputs = tmp_path / "in"
    write_photos(inputs, 2, shape=(37, 50))
    out = tmp_path / "styled"
    assert main(["stylize", "--model", str(trained / "adam" / "artifacts" / "model.keras"), str(inputs),
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["photo_00.png", "photo_01.png"]
    assert read_rgb(out / "photo_00.png").shape == (37, 50, 3)
    assert "images/s" in capsys.readouterr().out


def other_keras_model(path: Path) -> str:
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 1)])
    model.save(path)
    return str(path)


@pytest.mark.parametrize("arguments, message", [
    (lambda tmp, model: ["train", "--data", str(tmp / "empty"), "--size", "32", "--steps", "1"], "no photos"),
    (lambda tmp, model: ["train", "--optimizer", "lbfgs", "--steps", "1"], "full-batch driver"),
    (lambda tmp, model: ["train", "--size", "30"], "multiple of 4"),
    (lambda tmp, model: ["stylize", "--model", other_keras_model(tmp / "other.keras"), str(tmp / "ok.png"),
                         "--out", str(tmp / "o")], "not a fast-style model"),
    (lambda tmp, model: ["stylize", "--model", str(tmp / "ok.png"), str(tmp / "ok.png"), "--out", str(tmp / "o")],
     "cannot load"),
    (lambda tmp, model: ["stylize", "--model", model, str(tmp / "tiny.png"), "--out", str(tmp / "o")], "too small"),
    (lambda tmp, model: ["stylize", "--model", model, str(tmp / "missing.png"), "--out", str(tmp / "o")],
     "image not found"),
])
def test_bad_input_is_one_line_and_exit_code_2(trained, tmp_path, capsys, arguments, message):
    (tmp_path / "empty").mkdir()
    save_image(np.zeros((8, 20, 3)), tmp_path / "tiny.png")
    save_image(np.zeros((40, 40, 3)), tmp_path / "ok.png")
    code = main(arguments(tmp_path, str(trained / "adam" / "artifacts" / "model.keras")))
    error = capsys.readouterr().err.strip()
    assert code == 2, error
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    for default in ("(default: 0.01)", "(default: adam)", "(default: 128)", "(default: starry-night)", "(default: 1000)",
                    "(default: 4)", "(default: vgg16-hed)"):
        assert default in text


def test_library_defaults_build_the_optimizer_as_keras_does():
    """The library arm passes no registry default (adagrad: Keras' 0.001, not the paper-era 0.01)."""
    from kerasopt import optimizers

    library = FastStyleConfig(optimizer="adagrad", hparam_defaults="library")
    assert library.resolved_hparams() == {}
    assert float(optimizers.build("adagrad", library.resolved_hparams()).learning_rate) == pytest.approx(1e-3)
    assert FastStyleConfig(optimizer="adagrad").resolved_hparams()["learning_rate"] == 0.01


@pytest.mark.parametrize("arguments, message", [
    (["train", "--steps", "0"], "argument --steps: must be at least 1"),
    (["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["nope"], "invalid choice: 'nope'"),
])
def test_usage_errors_go_through_the_shared_one_line_handling(capsys, arguments, message):
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_a_run_record_matches_its_settings_so_a_study_resumes_it(trained):
    """The record adds what it found (photo counts) without overwriting a setting (val_photos)."""
    import dataclasses

    from kerasopt.records import read_config, record_matches

    settings = read_config(trained / "adam")["settings"]
    fields = {field.name for field in dataclasses.fields(FastStyleConfig)}
    config = FastStyleConfig.from_dict({key: value for key, value in settings.items() if key in fields})
    assert record_matches(trained / "adam", config.to_dict())
    assert settings["val_photos"] == config.val_photos and settings["val_photo_count"] >= 1

"""Style coarse to fine (``scales``): the upsampling between scales, the setting's checks and run id, the
budget split and learning-rate rule, and tiny end-to-end runs at 32 -> 64 px (first-order and drivers)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from kerasopt.records import read_config, read_history
from kerasopt.style import StyleConfig, run
from kerasopt.style import loop, workload
from kerasopt.style.__main__ import main
from kerasopt.style.config import default_learning_rate, scale_budget, scale_learning_rate
from kerasopt.style.images import read_rgb
from kerasopt.style.losses import Objective
from kerasopt.study.expand import run_id
from kerasopt import tasks


# --- the upsampling between scales -------------------------------------------------------------------------

def test_upsample_of_a_2x2_image_is_the_hand_computed_bilinear_4x4():
    # half-pixel centres: output pixel i of 4 samples the input at (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
    # clamped to 0, 0.25, 0.75, 1; for [[0, 255], [255, 0]] the value is 255 * ((1 - y) x + y (1 - x))
    image = np.array([[0.0, 255.0], [255.0, 0.0]], np.float32)[None, :, :, None].repeat(3, axis=3)
    expected = np.array([[0.0, 63.75, 191.25, 255.0],
                         [63.75, 95.625, 159.375, 191.25],
                         [191.25, 159.375, 95.625, 63.75],
                         [255.0, 191.25, 63.75, 0.0]], np.float32)
    result = workload.upsample(image, 4, 4)
    assert result.shape == (1, 4, 4, 3) and result.dtype == np.float32
    for channel in range(3):
        np.testing.assert_allclose(result[0, :, :, channel], expected, atol=1e-4)


def test_upsample_matches_tf_image_resize_and_keeps_the_pixel_range():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, 6, 8, 3)).astype(np.float32)
    image[0, 0, 0] = 0.0
    image[0, -1, -1] = 255.0
    result = workload.upsample(image, 12, 16)
    np.testing.assert_allclose(result, tf.image.resize(image, (12, 16), method="bilinear").numpy(), atol=1e-4)
    assert result.min() >= 0.0 and result.max() <= 255.0
    assert workload.upsample(image[0], 9, 11).shape == (9, 11, 3)  # a single image (H, W, 3) too


# --- the setting ------------------------------------------------------------------------------------------

def test_carry_up_adds_the_photos_lost_detail_to_the_upsampled_result_by_hand():
    # a 1x1 coarse result upsamples to a constant 2x2; the detail is the fine photo minus the coarse photo
    result = np.full((1, 1, 1, 3), 100.0, np.float32)
    coarse_photo = np.full((1, 1, 1, 3), 50.0, np.float32)
    fine_photo = np.array([[10.0, 90.0], [200.0, 250.0]], np.float32)[None, :, :, None].repeat(3, axis=3)
    carried = workload.carry_up(result, coarse_photo, fine_photo, keep_detail=True)
    assert carried.shape == (1, 2, 2, 3) and carried.dtype == np.float32
    np.testing.assert_array_equal(carried[0, :, :, 0], [[60.0, 140.0], [250.0, 255.0]])  # 100 + 200 clipped
    np.testing.assert_array_equal(workload.carry_up(result, coarse_photo, fine_photo, keep_detail=False),
                                  np.full((1, 2, 2, 3), 100.0, np.float32))  # from noise: plain upsampling


def test_carry_up_of_an_unchanged_photo_is_the_fine_photo():
    rng = np.random.default_rng(0)
    fine = rng.uniform(0, 255, (1, 12, 16, 3)).astype(np.float32)
    coarse = workload.upsample(fine, 6, 8)
    np.testing.assert_allclose(workload.carry_up(coarse, coarse, fine, keep_detail=True), fine, atol=1e-3)


def test_scales_are_left_out_of_the_settings_at_one_scale_so_run_ids_hold():
    base = {"optimizer": "lbfgs", "seed": 0, "size": 64, "evaluations": 50, "iterations": None}
    task = tasks.get("style")
    assert "scales" not in StyleConfig(**base).to_dict()
    assert run_id("style", task.resolve(base)) == "dea37188c684"  # tests/test_run_id_stability.py
    assert run_id("style", task.resolve({**base, "scales": [64]})) == "dea37188c684"  # [size] is one scale
    coarse = task.resolve({**base, "scales": [32, 64]})
    assert coarse["scales"] == [32, 64] and run_id("style", coarse) != "dea37188c684"


def test_scales_are_normalised():
    assert StyleConfig(size=64, scales="32, 64").scales == [32, 64]
    assert StyleConfig(size=64, scales=[64]).scales == []
    assert StyleConfig(size=64, scales=[64]).scale_sizes == [64]
    assert StyleConfig.from_dict({"size": "64", "scales": [32, 64]}).scale_sizes == [32, 64]


@pytest.mark.parametrize("values, match", [
    ({"size": 64, "scales": [64, 32]}, "strictly increasing"),
    ({"size": 64, "scales": [32, 32, 64]}, "strictly increasing"),
    ({"size": 64, "scales": [16, 32]}, r"last scale must equal size \(64\)"),
    ({"size": 64, "scales": [8, 64]}, "at least 16 px"),
    ({"size": 64, "scales": "32,x"}, "long sides in px"),
    ({"size": 64, "scales": [32.5, 64]}, "list of long sides"),
    ({"size": 64, "scales": [16, 32, 64], "iterations": 2}, r"iterations must be at least the number of scales \(3\)"),
    ({"size": 64, "scales": [32, 64], "iterations": None, "evaluations": 1}, "evaluations must be at least"),
])
def test_bad_scales_are_value_errors_naming_the_setting(values, match):
    with pytest.raises(ValueError, match=match):
        StyleConfig.from_dict(values)


def test_the_budget_is_the_total_split_equally_over_the_coarser_scales():
    assert scale_budget(None, 0, 0, 2) is None
    assert [scale_budget(100, 0, 0, 2), scale_budget(100, 50, 1, 2)] == [50, 50]
    assert scale_budget(100, 53, 1, 2) == 47  # a driver's line search may end a scale off its share
    assert [scale_budget(10, 0, 0, 3), scale_budget(10, 3, 1, 3), scale_budget(10, 6, 2, 3)] == [3, 3, 4]
    assert scale_budget(10, 12, 1, 2) == 1  # the final scale always runs


def test_learning_rates_carry_across_scales_like_the_default_table():
    # gradient-scaled optimizers: rate * (scale / size)^2 (the table's own size rule); the others keep it
    assert scale_learning_rate("sgd", 4000.0, 256, 512) == 1000.0
    assert scale_learning_rate("adam", 10.0, 256, 512) == 10.0
    for name in ("sgd", "adagrad", "adam", "rprop"):
        carried = scale_learning_rate(name, default_learning_rate(name, 512), 128, 512)
        assert carried == pytest.approx(default_learning_rate(name, 128), rel=1e-3)


# --- end to end at 32 -> 64 px ------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_start_of_scale_two_is_the_upsampled_end_of_scale_one(tmp_path, monkeypatch):
    seen = []
    original = loop.run_first_order

    def spy(objective, image, optimizer, steps, on_row, on_iterate=None):
        start = image.numpy().copy()
        result = original(objective, image, optimizer, steps, on_row, on_iterate)
        seen.append({"start": start, "end": image.numpy().copy(), "steps": steps, "objective": objective,
                     "rate": float(optimizer.learning_rate.numpy())})
        return result

    monkeypatch.setattr(loop, "run_first_order", spy)
    config = StyleConfig(optimizer="adam", size=64, scales=[32, 64], iterations=6)
    summary = run(config, tmp_path, progress=False)
    assert summary["status"] == "completed"
    first, second = seen
    assert first["start"].shape == (1, 24, 32, 3) and second["start"].shape == (1, 48, 64, 3)
    photo_64 = workload.initial_image(StyleConfig(size=64), workload.prepare(StyleConfig(size=64)))
    np.testing.assert_array_equal(first["start"], workload.initial_image(StyleConfig(size=32),
                                                                         workload.prepare(StyleConfig(size=32))))
    np.testing.assert_array_equal(second["start"], workload.carry_up(first["end"], first["start"], photo_64, True))
    assert not np.array_equal(second["start"], workload.upsample(first["end"], 48, 64))  # the photo's detail kept
    assert [first["steps"], second["steps"]] == [3, 3]
    assert first["rate"] == second["rate"] == 10.0  # Adam normalises the gradient: one rate at every scale

    history = read_history(tmp_path)
    assert [(row["step"], row["evaluations"], row["scale"]) for row in history] == [
        (0, 0, 32), (1, 1, 32), (2, 2, 32), (3, 3, 32), (3, 3, 64), (4, 4, 64), (5, 5, 64), (6, 6, 64)]
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(history, history[1:]))
    boundary = history[4]  # row 0 of scale 64: the loss of the upsampled image on the 64 px problem
    assert boundary["loss"] == pytest.approx(float(second["objective"](tf.constant(second["start"]))[0]), rel=1e-4)
    assert history[3]["loss"] == pytest.approx(float(first["objective"](tf.constant(first["end"]))[0]), rel=1e-4)

    metrics = summary["metrics"]
    assert (metrics["iterations"], metrics["evaluations"]) == (6, 6)
    assert metrics["loss"] == pytest.approx(history[-1]["loss"], rel=1e-4)
    assert metrics["seconds"] == pytest.approx(history[-1]["seconds"])
    content_start = workload.initial_image(StyleConfig(size=64), workload.prepare(StyleConfig(size=64)))
    assert metrics["initial_loss"] == pytest.approx(float(second["objective"](tf.constant(content_start))[0]),
                                                    rel=1e-5)  # the start image at the final size
    settings = read_config(tmp_path)["settings"]
    assert settings["scales"] == [32, 64] and settings["image_px"] == [48, 64]
    assert settings["scale_image_px"] == [[24, 32], [48, 64]] and settings["scale_learning_rates"] == [10.0, 10.0]
    assert read_rgb(tmp_path / "artifacts" / "scale_32px.png").shape == (24, 32, 3)
    assert read_rgb(tmp_path / "artifacts" / "result.png").shape == (48, 64, 3)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer, init, budget, hparams", [
    ("lbfgs", "noise", 12, {}), ("lbfgs_scipy", "content", 12, {}),
    ("hessian_free", "content", 40, {"initial_damping": 1e-8}), ("sgd", "noise", 12, {})])
def test_every_kind_of_optimizer_runs_coarse_to_fine_within_the_total_budget(tmp_path, optimizer, init, budget,
                                                                            hparams):
    config = StyleConfig(optimizer=optimizer, init=init, seed=3, size=64, scales=[32, 64], iterations=None,
                         evaluations=budget, hparams=hparams)
    summary = run(config, tmp_path, progress=False)
    assert summary["status"] == "completed"
    history = read_history(tmp_path)
    at_32 = [row for row in history if row["scale"] == 32]
    at_64 = [row for row in history if row["scale"] == 64]
    assert at_32 and at_64 and history == at_32 + at_64
    assert at_32[-1]["evaluations"] <= budget // 2 + (optimizer != "sgd") * 3  # its share (a line search may end)
    # rows are accepted iterates: Hessian-free's rejected trials count in the total, not in a row
    assert history[-1]["evaluations"] <= summary["metrics"]["evaluations"] <= budget + 3
    assert [row["evaluations"] for row in history] == sorted(row["evaluations"] for row in history)
    assert at_64[-1]["loss"] <= at_64[0]["loss"] and at_32[-1]["loss"] < at_32[0]["loss"]
    assert math.isfinite(summary["metrics"]["loss"]) and summary["metrics"]["loss"] < summary["metrics"]["initial_loss"]
    if optimizer == "sgd":  # a gradient-scaled rate carried to 32 px by (32 / 64)^2
        assert read_config(tmp_path)["settings"]["scale_learning_rates"] == pytest.approx(
            [default_learning_rate("sgd", 64) / 4, default_learning_rate("sgd", 64)])


@pytest.mark.slow
def test_divergence_at_a_coarse_scale_ends_the_run_with_a_finite_final_size_image(tmp_path):
    config = StyleConfig(optimizer="momentum", hparams={"learning_rate": 1e38}, size=64, scales=[32, 64],
                         iterations=12)
    summary = run(config, tmp_path, progress=False)
    assert summary["status"] == "diverged" and "scale 32 px" in summary["error"]
    assert {row["scale"] for row in read_history(tmp_path)} == {32}
    assert np.isfinite(summary["metrics"]["loss"])
    assert read_rgb(tmp_path / "artifacts" / "result.png").shape == (48, 64, 3)


@pytest.mark.slow
def test_one_scale_keeps_the_old_history_columns(tmp_path):
    rows = []

    class Record:
        artifacts = tmp_path

        def log(self, row):
            rows.append(row)

    config = StyleConfig(optimizer="sgd", size=32, iterations=1)
    problem = workload.prepare(config)
    objective = Objective(problem.extractor, problem.targets, 1.0, 0.01, 0.001)
    image = tf.Variable(workload.initial_image(config, problem))
    workload.optimize(config, config.resolved_hparams(), objective, image, Record(), progress=False)
    assert "scale" not in rows[0] and [row["step"] for row in rows] == [0, 1]


# --- the command --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["--scales", "64,32"], "scales must be strictly increasing"),
    (["--scales", "32"], "the last scale must equal size (64)"),
    (["--scales", "32,x"], "argument --scales: must be comma-separated sizes in px such as 256,512, got 32,x"),
    (["--scales", "16,32,64", "--iterations", "2"], "iterations must be at least the number of scales (3)"),
])
def test_bad_scales_on_the_command_line_are_one_line_and_exit_code_2(tmp_path, capsys, arguments, message):
    code = main(["--size", "64", "--iterations", "4", "--out", str(tmp_path / "out"), *arguments])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: ") and message in error and "\n" not in error


def test_a_coarse_scale_too_small_for_the_network_is_refused_before_anything_runs(tmp_path, capsys):
    code = main(["--size", "64", "--scales", "20,64", "--iterations", "4", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "becomes 20x15 px at scale 20 of --scales 20,64" in error
    assert not (tmp_path / "out").exists()

"""style.run: every optimizer family lowers the loss, accounting, divergence, failures, snapshots (32 px)."""

import numpy as np
import pytest

from kerasopt.records import read_config, read_history, read_summary
from kerasopt.style import StyleConfig, prepare, run
from kerasopt.style import loop
from kerasopt.style.images import read_rgb

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

TINY = {"size": 32, "iterations": 4}
FAMILIES = ["sgd", "momentum", "adagrad", "adam", "rprop", "lbfgs"]


@pytest.fixture(scope="module")
def summaries(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {name: (run(StyleConfig(optimizer=name, **TINY), root / name, progress=False), root / name)
            for name in FAMILIES}


@pytest.mark.parametrize("name", FAMILIES)
def test_each_optimizer_family_lowers_the_loss(summaries, name):
    summary, run_dir = summaries[name]
    metrics = summary["metrics"]
    assert summary["status"] == "completed"
    assert metrics["loss"] < 0.9 * metrics["initial_loss"]
    assert metrics["iterations"] == 4
    history = read_history(run_dir)
    assert [row["step"] for row in history] == [0, 1, 2, 3, 4]
    assert list(history[0])[:7] == ["step", "evaluations", "seconds", "loss", "content_loss", "style_loss", "tv_loss"]
    assert history[-1]["loss"] == pytest.approx(metrics["loss"], rel=1e-3)
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(history, history[1:]))
    result = read_rgb(run_dir / "artifacts" / "result.png")
    assert result.shape == (24, 32, 3)


def test_history_components_add_up_to_the_weighted_total(summaries):
    summary, run_dir = summaries["adam"]
    config = StyleConfig(**TINY)
    for row in read_history(run_dir):
        weighted = (config.content_weight * row["content_loss"] + config.style_weight * row["style_loss"]
                    + config.tv_weight * row["tv_loss"])
        assert weighted == pytest.approx(row["loss"], rel=1e-4)


def test_hessian_free_rows_carry_the_accepted_points_components(tmp_path):
    # Hessian-free backtracks over its CG iterates: it evaluates the last one, then earlier ones while they
    # improve, and accepts the best, so the last evaluation can be a rejected trial (2 of the rows of this
    # run before the fix); a row must carry the accepted point's loss components
    config = StyleConfig(optimizer="hessian_free", size=32, iterations=None, evaluations=60,
                         hparams={"initial_damping": 1e-8})
    summary = run(config, tmp_path / "hf", progress=False)
    assert summary["metrics"]["gradient_evaluations"] > summary["metrics"]["iterations"]  # trials were rejected
    for row in read_history(tmp_path / "hf"):
        weighted = (config.content_weight * row["content_loss"] + config.style_weight * row["style_loss"]
                    + config.tv_weight * row["tv_loss"])
        assert weighted == pytest.approx(row["loss"], rel=1e-4)


def test_lbfgs_counts_line_search_evaluations(summaries):
    summary, run_dir = summaries["lbfgs"]
    history = read_history(run_dir)
    assert summary["metrics"]["evaluations"] >= summary["metrics"]["iterations"]
    assert all(row["evaluations"] >= row["step"] for row in history)
    assert history[-1]["evaluations"] == summary["metrics"]["evaluations"]


def test_first_order_step_is_one_evaluation(summaries):
    history = read_history(summaries["sgd"][1])
    assert [row["evaluations"] for row in history] == [0, 1, 2, 3, 4]


def test_record_names_network_weights_hash_and_learning_rate(summaries):
    settings = read_config(summaries["adam"][1])["settings"]
    assert settings["network"] == "vgg16-hed" and len(settings["weights_sha256"]) == 64
    assert settings["resolved_hparams"]["learning_rate"] > 0.01  # the pixel-scale table, not Keras' 1e-3
    assert settings["image_px"] == [24, 32]


def test_problem_is_cached_across_optimizers():
    assert prepare(StyleConfig(optimizer="adam", **TINY)) is prepare(StyleConfig(optimizer="sgd", **TINY))


def test_noise_start_is_identical_for_every_optimizer(tmp_path):
    starts = [run(StyleConfig(optimizer=name, init="noise", seed=5, size=32, iterations=1), tmp_path / name,
                  progress=False)["metrics"]["initial_loss"] for name in ("sgd", "lbfgs")]
    assert starts[0] == pytest.approx(starts[1], rel=1e-5)


def test_evaluation_budget_limits_first_order_steps(tmp_path):
    summary = run(StyleConfig(optimizer="adam", size=32, iterations=None, evaluations=3), tmp_path, progress=False)
    assert summary["metrics"]["iterations"] == 3 and summary["metrics"]["evaluations"] == 3


def test_snapshots_are_written_every_k_iterations(tmp_path):
    run(StyleConfig(optimizer="sgd", size=32, iterations=4, snapshot_every=2), tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "artifacts").glob("snapshot_*.png")) == [
        "snapshot_00002.png", "snapshot_00004.png"]


def test_nan_producing_learning_rate_is_recorded_as_diverged(tmp_path):
    # inf - inf in the momentum buffer gives NaN pixels within a few steps
    summary = run(StyleConfig(optimizer="momentum", hparams={"learning_rate": 1e38}, size=32, iterations=6),
                  tmp_path, progress=False)
    assert summary["status"] == "diverged"
    assert "non-finite" in summary["error"]
    assert np.isfinite(summary["metrics"]["loss"])  # the last finite iterate is kept
    assert (tmp_path / "artifacts" / "result.png").is_file()


def test_exception_during_optimization_is_recorded_as_failed(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(loop, "run_first_order", broken)
    summary = run(StyleConfig(optimizer="adam", **TINY), tmp_path, progress=False)
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: boom"
    assert read_summary(tmp_path)["status"] == "failed"
    assert "Traceback" in (tmp_path / "error.log").read_text()


def test_bad_input_raises_before_anything_is_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="content image not found"):
        run(StyleConfig(content=str(tmp_path / "missing.jpg"), **TINY), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


class _Quadratic:
    """A stand-in objective: mean squared distance of the image to 200, three loss parts."""

    COMPONENTS = ("content_loss", "style_loss", "tv_loss")

    def __call__(self, image):
        import tensorflow as tf

        total = tf.reduce_mean(tf.square(image - 200.0))
        return total, tf.stack([total, 0.0, 0.0])


def test_schedule_free_is_scored_at_its_averaged_point_inside_the_box():
    import tensorflow as tf

    from kerasopt import optimizers

    image = tf.Variable(np.linspace(0, 255, 48, dtype="float32").reshape(1, 4, 4, 3))
    optimizer = optimizers.make("schedule_free_adamw", learning_rate=20.0)
    seen, rows = {}, []
    beta_1 = optimizer.beta_1

    def on_iterate(k):  # inside the evaluation point: the image holds x_k, the z slot z_k
        x, z = image.numpy().copy(), optimizer._momentums[0].numpy().copy()
        seen[k] = (x, np.clip((1 - beta_1) * z + beta_1 * x, 0, 255))  # (x_k, y_k)

    loop.run_first_order(_Quadratic(), image, optimizer, 6, rows.append, on_iterate)
    loss = lambda point: float(np.mean((point - 200.0) ** 2))  # noqa: E731
    assert [row["step"] for row in rows] == [0, 1, 2, 3, 4, 5, 6] == [row["evaluations"] for row in rows]
    for k in range(1, 7):  # every row after the start is at the averaged point x_k, not at y_k
        x, y = seen[k]
        assert rows[k]["loss"] == pytest.approx(loss(x), rel=1e-5)
        if k > 1:  # (x_1 = z_1 = y_1: the average starts at the first step)
            assert not np.allclose(x, y) and abs(loss(x) - loss(y)) > 1e-3 * loss(x)
    np.testing.assert_allclose(image.numpy(), seen[6][0], rtol=1e-5, atol=1e-3)  # the run ends at x
    assert image.numpy().min() >= 0 and image.numpy().max() <= 255
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(rows, rows[1:]))
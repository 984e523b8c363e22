"""Johnson et al.'s image transformation network as a Keras model.

Architecture (Johnson, Alahi & Fei-Fei 2016, supplementary Table 1, with the
two changes every later implementation made: instance normalisation (Ulyanov
et al. 2016) instead of batch normalisation, and nearest-neighbour upsampling
followed by a convolution instead of a transposed convolution, which avoids
checkerboard artefacts (Odena et al. 2016)):

====================================  ==================
layer                                 channels (width 1)
====================================  ==================
reflect-pad 4, conv 9x9, IN, ReLU     32
reflect-pad 1, conv 3x3 stride 2, IN  64
reflect-pad 1, conv 3x3 stride 2, IN  128
5 x residual block (2 x conv 3x3, IN) 128
upsample x2 (nearest), conv 3x3, IN   64
upsample x2 (nearest), conv 3x3, IN   32
reflect-pad 4, conv 9x9               3
tanh, scaled to [0, 255]              3
====================================  ==================

``width`` multiplies every hidden channel count (0.25 -> 8/16/32), to make CPU
tests tiny. Input and output: float32 (B, H, W, 3), RGB in [0, 255], H and W
multiples of 4 (`stylize_array` pads other sizes). The custom layers are
registered under the package ``kerasopt``, so a saved ``.keras`` file reloads
with plain ``keras.models.load_model`` once this module is imported.
"""

from __future__ import annotations

import keras
from keras import ops

MODEL_NAME = "faststyle_transformer"
SIZE_MULTIPLE = 4
"""Height and width the network maps to themselves: two stride-2 convs, two x2 upsamplings."""
BASE_CHANNELS = (32, 64, 128)
RESIDUAL_BLOCKS = 5


@keras.saving.register_keras_serializable(package="kerasopt")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by ``padding`` px on each side, mirroring the border (no edge repeat).

    Input float (B, H, W, C) -> (B, H + 2p, W + 2p, C). Needs H, W > p.
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        grow = lambda side: None if side is None else side + 2 * self.padding  # noqa: E731
        return batch, grow(height), grow(width), channels

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="kerasopt")
class InstanceNormalization(keras.layers.Layer):
    """Normalises each channel of each image over its positions, then scales and shifts.

    ``y = gamma * (x - mean_hw(x)) / sqrt(var_hw(x) + epsilon) + beta`` with
    learned ``gamma`` (init 1), ``beta`` (init 0) of shape (C,). Equals
    ``keras.layers.GroupNormalization(groups=-1)``. Input float (B, H, W, C).
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, inputs):
        mean, variance = ops.moments(inputs, axes=[1, 2], keepdims=True)
        return self.gamma * (inputs - mean) * ops.rsqrt(variance + self.epsilon) + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kerasopt")
class ResidualBlock(keras.layers.Layer):
    """``x + IN(conv(ReLU(IN(conv(x)))))`` with 3x3 reflection-padded convs of ``channels`` channels.

    Input and output float (B, H, W, channels).
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.pad1, self.pad2 = ReflectionPadding2D(1), ReflectionPadding2D(1)
        self.conv1 = keras.layers.Conv2D(self.channels, 3, padding="valid")
        self.conv2 = keras.layers.Conv2D(self.channels, 3, padding="valid")
        self.norm1, self.norm2 = InstanceNormalization(), InstanceNormalization()

    def build(self, input_shape):
        shape = tuple(input_shape)
        padded = (shape[0], None, None, shape[-1])
        self.conv1.build(padded)
        self.norm1.build(shape[:-1] + (self.channels,))
        self.conv2.build(padded[:-1] + (self.channels,))
        self.norm2.build(shape[:-1] + (self.channels,))

    def call(self, inputs):
        x = ops.relu(self.norm1(self.conv1(self.pad1(inputs))))
        return inputs + self.norm2(self.conv2(self.pad2(x)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def scaled_channels(width: float) -> tuple[int, int, int]:
    """Hidden channel counts ``(32, 64, 128) * width``, each at least 1."""
    return tuple(max(1, round(c * width)) for c in BASE_CHANNELS)


def _conv_block(x, channels: int, kernel: int, strides: int = 1, relu: bool = True, name: str = ""):
    x = ReflectionPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(channels, kernel, strides=strides, padding="valid", name=f"{name}_conv")(x)
    x = InstanceNormalization(name=f"{name}_norm")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def build_transformer(width: float = 1.0) -> keras.Model:
    """The image transformation network (uncompiled; initial weights from Keras' global seed).

    Args:
        width: positive channel multiplier (1.0 = Johnson et al.'s 32/64/128).

    Returns:
        keras.Model named `MODEL_NAME`: float32 (B, H, W, 3) RGB [0, 255] ->
        float32 (B, H, W, 3) RGB in [0, 255] (H, W multiples of `SIZE_MULTIPLE`).
    """
    if not width > 0:
        raise ValueError(f"width must be a positive number. Received: width={width!r}")
    small, medium, large = scaled_channels(width)
    inputs = keras.Input((None, None, 3), dtype="float32", name="rgb_0_255")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    x = _conv_block(x, small, 9, name="down0")
    x = _conv_block(x, medium, 3, strides=2, name="down1")
    x = _conv_block(x, large, 3, strides=2, name="down2")
    for index in range(RESIDUAL_BLOCKS):
        x = ResidualBlock(large, name=f"residual{index}")(x)
    for index, channels in enumerate((medium, small)):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{index}_resize")(x)
        x = _conv_block(x, channels, 3, name=f"up{index}")
    x = ReflectionPadding2D(4, name="out_pad")(x)
    x = keras.layers.Conv2D(3, 9, padding="valid", name="out_conv")(x)
    x = keras.layers.Activation("tanh", name="out_tanh")(x)
    outputs = keras.layers.Rescaling(127.5, offset=127.5, name="to_pixels")(x)
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def is_transformer(model) -> bool:
    """True for a model built by `build_transformer` (name and 3-channel input/output)."""
    try:
        return (isinstance(model, keras.Model) and model.name == MODEL_NAME
                and tuple(model.input_shape)[-1] == 3 and tuple(model.output_shape)[-1] == 3)
    except (AttributeError, TypeError, ValueError):
        return False


def load_transformer(path) -> keras.Model:
    """Load a saved transformation network (``.keras``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be loaded, or holds another kind of model (one line).
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # zip, h5, deserialization errors all mean: not our model file
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load {path} as a fast-style model (.keras from kerasopt.faststyle): "
                         f"{reason}") from None
    if not is_transformer(model):
        raise ValueError(f"{path} is not a fast-style model: expected a '{MODEL_NAME}' model from "
                         f"kerasopt.faststyle, found {getattr(model, 'name', type(model).__name__)!r}")
    return model

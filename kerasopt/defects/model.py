"""The U-Net of `segmentation_models` (qubvel), built for Keras 3.

`segmentation_models` is imported here (`segmentation_models`) with ``SM_FRAMEWORK=tf.keras`` set
for the import only (without it the import fails on Keras 3; the variable is restored afterwards), so
users never have to set it.

Backbone choice: the default ``resnet18`` trains at 128 px, batch 8 in about
0.9 s per step on 2 CPU cores (mobilenetv2 1.7 s, efficientnetb0 ~2 s: their
depthwise convolutions are slow on CPU). On a GPU the paper-scale choice is
``resnet34`` (or ``efficientnetb3``) at 256 px or more with
``encoder_weights="imagenet"``. densenet121/169/201 do not build on Keras 3
(layer names containing '/') and are refused.
"""

from __future__ import annotations

import os

import keras

UNSUPPORTED_BACKBONES = ("densenet121", "densenet169", "densenet201")
DEFAULT_BACKBONE = "resnet18"


def segmentation_models():
    """The `segmentation_models` module, imported on first use for Keras 3 (``SM_FRAMEWORK=tf.keras``
    during the import only; it prints a banner once)."""
    previous = os.environ.get("SM_FRAMEWORK")
    os.environ["SM_FRAMEWORK"] = "tf.keras"
    try:
        import segmentation_models as sm
    finally:
        if previous is None:
            del os.environ["SM_FRAMEWORK"]
        else:
            os.environ["SM_FRAMEWORK"] = previous
    return sm


def supported_backbones() -> list[str]:
    """The segmentation_models backbones that build on Keras 3."""
    return [name for name in segmentation_models().Backbones.models_names() if name not in UNSUPPORTED_BACKBONES]


def check_backbone(backbone: str) -> str:
    """Return ``backbone`` if U-Net can use it; ValueError (one line) otherwise."""
    if backbone in UNSUPPORTED_BACKBONES:
        raise ValueError(f"backbone {backbone!r} does not build on Keras 3 (segmentation_models densenets use "
                         "layer names with '/'); choose another, e.g. resnet18")
    if backbone not in supported_backbones():
        raise ValueError(f"unknown backbone {backbone!r}. Valid: {', '.join(supported_backbones())}")
    return backbone


def check_encoder_weights(encoder_weights: str | None) -> str | None:
    """None, ``"imagenet"`` (downloaded by Keras; needs internet or a cache) or an existing file."""
    if encoder_weights in (None, "", "none", "None"):
        return None
    if encoder_weights == "imagenet":
        return encoder_weights
    if not os.path.isfile(encoder_weights):
        raise FileNotFoundError(f"encoder_weights file {encoder_weights} does not exist (use None, 'imagenet' "
                                "or a path to an .h5 weights file)")
    import h5py

    if not h5py.is_hdf5(encoder_weights):
        raise ValueError(f"encoder_weights file {encoder_weights} is not an HDF5 (.h5) weights file")
    return encoder_weights


# Bytes per input pixel of one image that training keeps (activations, their gradients, workspace); measured
# peak RSS of a resnet18 U-Net at 128 px, batch 8 was ~1 GB above TensorFlow's baseline (~1 KB/pixel); x2 margin.
TRAIN_BYTES_PER_PIXEL = 2048
CACHE_BYTES_PER_PIXEL = 16  # cached float32 image (3 channels) + mask (1 channel)


def check_memory(size: int, batch_size: int, images: int = 0, available: int | None = None) -> None:
    """ValueError (one line) when a training batch of ``size`` px or the cached data set cannot fit in RAM.

    Estimate: ``batch_size * size**2 * TRAIN_BYTES_PER_PIXEL`` bytes of activations plus
    ``images * size**2 * CACHE_BYTES_PER_PIXEL`` bytes of decoded data, against ``available``
    bytes (default: what this process can still use, cgroup limits included: `kerasopt.memory`).
    """
    from kerasopt.memory import available_memory_bytes

    available = available_memory_bytes() if available is None else available
    if not available:
        return
    needed = int(batch_size) * int(size) ** 2 * TRAIN_BYTES_PER_PIXEL + int(images) * int(size) ** 2 * CACHE_BYTES_PER_PIXEL
    if needed > available:
        raise ValueError(f"size {size} px with batch size {batch_size}{f' and {images} images' if images else ''} "
                         f"needs about {needed / 2**30:.3g} GiB, more than the "
                         f"{available / 2**30:.3g} GiB of memory available: use a smaller --size or --batch-size")


def check_encoder_weights_fit(backbone: str, encoder_weights: str | None) -> None:
    """Load an .h5 ``encoder_weights`` file into the ``backbone`` encoder once, before any run: ValueError
    (one line) when its layers are missing or its kernels misshaped. None and "imagenet" pass unchecked."""
    if encoder_weights in (None, "imagenet"):
        return
    try:
        build_unet(backbone, None, encoder_weights)
    except Exception as exc:  # Keras/h5py raise several types for a file of another network
        text = str(exc).strip()
        reason = text.splitlines()[0][:200] if text else type(exc).__name__
        raise ValueError(f"encoder_weights file {encoder_weights} does not fit the {backbone} encoder: "
                         f"{reason}") from None


def build_unet(backbone: str = DEFAULT_BACKBONE, size: int | None = None,
               encoder_weights: str | None = None) -> keras.Model:
    """``sm.Unet(backbone, encoder_weights=..., classes=1, activation="sigmoid")``.

    Args:
        backbone: a name from `supported_backbones`.
        size: int (multiple of 32) for a fixed input size, or None for any size.
        encoder_weights: None (random init), "imagenet", or a path to an encoder weights file.

    Returns:
        A Keras model mapping float32 (B, H, W, 3) in [0, 1] to defect
        probabilities float32 (B, H, W, 1) in [0, 1].
    """
    check_backbone(backbone)
    if size is not None and size % 32:
        raise ValueError(f"size must be a multiple of 32 for a U-Net with 5 poolings. Received: size={size}")
    return segmentation_models().Unet(backbone, input_shape=(size, size, 3), encoder_weights=check_encoder_weights(encoder_weights),
                      classes=1, activation="sigmoid")

"""Johnson et al.'s perceptual loss, batch-wise, from the pure Gatys terms of `kerasopt.style.losses`.

Same feature network, layers (`CONTENT_LAYER`, `STYLE_LAYERS`) and
normalisations as the Gatys task (see kerasopt.style.losses): per image,

    loss = content_weight * content + style_weight * style + tv_weight * tv

where content compares the stylized image's `CONTENT_LAYER` activations with
those of the input photo, style compares its Gram matrices with the style
image's, and tv is the total variation of the stylized image. A batch's loss
is the mean over its images. ``content_loss`` and ``total_variation_loss`` are
means over all entries, so applied to a whole batch they already equal the
mean of the per-image values; the Gram-based style loss is per image, so it
is mapped over the batch (`per_image_style_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from kerasopt.style.features import CONTENT_LAYER, STYLE_LAYERS, FeatureExtractor
from kerasopt.style.losses import content_loss, gram_matrix, style_loss, total_variation_loss

COMPONENTS = ("content_loss", "style_loss", "tv_loss")


def per_image_style_loss(features: dict[str, tf.Tensor], target_grams: dict[str, tf.Tensor]) -> tf.Tensor:
    """`kerasopt.style.losses.style_loss` of each image of a batch.

    Args:
        features: ``{style layer: float32 (B, h, w, c)}`` (other layers ignored).
        target_grams: ``{style layer: float32 (c, c)}`` of the style image.

    Returns:
        float32 (B,).
    """
    batch_features = {name: features[name] for name in target_grams}
    return tf.vectorized_map(
        lambda one: style_loss({name: value[None] for name, value in one.items()}, target_grams), batch_features)


def style_grams(extractor: FeatureExtractor, style_image: np.ndarray) -> dict[str, tf.Tensor]:
    """``{style layer: float32 (c, c) Gram}`` of a style image (float32 (H, W, 3), RGB in [0, 255])."""
    features = extractor(tf.constant(style_image[None], tf.float32))
    return {name: tf.identity(gram_matrix(features[name])) for name in STYLE_LAYERS}


@dataclass(frozen=True)
class PerceptualLoss:
    """The weighted perceptual loss of a stylized batch against its input photos.

    Attributes:
        extractor: the `FeatureExtractor` (frozen VGG).
        grams: `style_grams` of the style image.
        content_weight, style_weight, tv_weight: non-negative floats.
    """

    extractor: FeatureExtractor
    grams: dict
    content_weight: float
    style_weight: float
    tv_weight: float

    def weights(self) -> tf.Tensor:
        return tf.constant([self.content_weight, self.style_weight, self.tv_weight], tf.float32)

    def __call__(self, stylized: tf.Tensor, photos: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Batch loss.

        Args:
            stylized: float32 (B, H, W, 3), RGB in [0, 255], the network's output.
            photos: float32 (B, H, W, 3), RGB in [0, 255], its input.

        Returns:
            ``(total, parts)``: float32 scalar mean weighted loss and float32 (3,)
            unweighted batch means ``[content, style, tv]``.
        """
        content_target = tf.stop_gradient(self.extractor(photos)[CONTENT_LAYER])
        features = self.extractor(stylized)
        parts = tf.stack([
            content_loss(features[CONTENT_LAYER], content_target),
            tf.reduce_mean(per_image_style_loss(features, self.grams)),
            total_variation_loss(stylized),
        ])
        return tf.reduce_sum(self.weights() * parts), parts

    def style_of(self, images: tf.Tensor) -> tf.Tensor:
        """Unweighted style loss of each image, float32 (B,); images float32 (B, H, W, 3) in [0, 255]."""
        return per_image_style_loss(self.extractor(images), self.grams)

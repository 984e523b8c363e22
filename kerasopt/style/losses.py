"""Gatys et al. loss terms as pure functions, and the weighted objective.

Normalisations (our choice, stated so that weights can be compared):

- Gram matrix: ``G = F^T F / (h w)`` for features F reshaped to (h w, c), i.e.
  the mean over positions of the outer product of feature vectors.
- Style loss of one layer: ``mean((G - A)^2)`` over the c x c entries (A: the
  style image's Gram). With Gatys' unnormalised Gram this equals
  ``4 E_l`` of Gatys et al. (2016, eq. 4). The style loss is the plain mean
  over the five style layers (Gatys' w_l = 1/5).
- Content loss: ``mean((F - P)^2)`` over the h x w x c activations of
  `CONTENT_LAYER` (Gatys uses half the sum).
- Total variation: ``mean((x[i+1, j] - x[i, j])^2) + mean((x[i, j+1] - x[i, j])^2)``
  over pixels and channels, in squared 8-bit pixel units.
- Total: ``content_weight * content + style_weight * style + tv_weight * tv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from kerasopt.style.features import CONTENT_LAYER, STYLE_LAYERS, FeatureExtractor


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Position-averaged Gram matrix.

    Args:
        features: float32 (1, h, w, c) activations.

    Returns:
        float32 (c, c): ``F^T F / (h w)``.
    """
    shape = tf.shape(features)
    flat = tf.reshape(features, [-1, shape[-1]])
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[0], features.dtype)


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of activations; float32 scalar (units: activation^2)."""
    return tf.reduce_mean(tf.square(features - target))


def style_layer_loss(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """``mean((gram(features) - target_gram)^2)``; features (1, h, w, c), target (c, c)."""
    return tf.reduce_mean(tf.square(gram_matrix(features) - target_gram))


def style_loss(features: dict[str, tf.Tensor], target_grams: dict[str, tf.Tensor]) -> tf.Tensor:
    """Mean of `style_layer_loss` over the layers of ``target_grams``; float32 scalar."""
    return tf.add_n([style_layer_loss(features[name], gram) for name, gram in target_grams.items()]) / len(
        target_grams)


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of vertically plus horizontally adjacent pixels.

    Args:
        image: float32 (1, H, W, 3) in [0, 255].

    Returns:
        float32 scalar, squared pixel units.
    """
    vertical = tf.reduce_mean(tf.square(image[:, 1:, :, :] - image[:, :-1, :, :]))
    horizontal = tf.reduce_mean(tf.square(image[:, :, 1:, :] - image[:, :, :-1, :]))
    return vertical + horizontal


@dataclass(frozen=True)
class Targets:
    """Features of the inputs that the generated image must match.

    Attributes:
        content: float32 (1, h, w, c) activations of the content image at `CONTENT_LAYER`.
        grams: ``{style layer: float32 (c, c) Gram of the style image}``.
    """

    content: tf.Tensor
    grams: dict


def compute_targets(extractor: FeatureExtractor, content_image, style_image) -> Targets:
    """Targets from content and style images (float32 (H, W, 3), RGB in [0, 255]; sizes may differ)."""
    content = extractor(tf.constant(content_image[None], tf.float32))[CONTENT_LAYER]
    style = extractor(tf.constant(style_image[None], tf.float32))
    return Targets(tf.identity(content), {name: gram_matrix(style[name]) for name in STYLE_LAYERS})


class Objective:
    """The weighted Gatys loss of an image.

    Args:
        extractor: the `FeatureExtractor`.
        targets: `Targets` of the content and style images.
        content_weight, style_weight, tv_weight: non-negative floats.

    Calling it on float32 (1, H, W, 3) RGB in [0, 255] returns
    ``(total, parts)``: the float32 scalar total and float32 (3,) unweighted
    ``[content, style, tv]``.
    """

    COMPONENTS = ("content_loss", "style_loss", "tv_loss")

    def __init__(self, extractor: FeatureExtractor, targets: Targets, content_weight: float,
                 style_weight: float, tv_weight: float):
        self.extractor = extractor
        self.targets = targets
        self.weights = tf.constant([content_weight, style_weight, tv_weight], tf.float32)

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        features = self.extractor(image)
        parts = tf.stack([
            content_loss(features[CONTENT_LAYER], self.targets.content),
            style_loss(features, self.targets.grams),
            total_variation_loss(image),
        ])
        return tf.reduce_sum(self.weights * parts), parts

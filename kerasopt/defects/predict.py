"""``python -m kerasopt.defects predict``: apply a trained U-Net to images.

    python -m kerasopt.defects predict --model RUN/artifacts/best.keras IMAGE_OR_DIR... --out DIR [--threshold T]

For every image (files, or the image files directly inside a folder) it writes
``DIR/<stem>_mask.png`` (uint8, 255 = defect, the image's own size),
``DIR/<stem>_overlay.png`` (the image with defects tinted red and outlined)
and one row of ``DIR/predictions.csv``: ``file``, ``defect_score`` (maximum
defect probability), ``defect_pixels`` (in the written mask),
``predicted_defective`` (score >= threshold).

Images are decoded like training data (`kerasopt.defects.data.load_pair`: 8/16
bit, gray or colour, any file name), resized to the model's input size
(bilinear), and the probability map is resized back (bilinear) before
thresholding. The default threshold is the one chosen on validation in the
model's run (``best_threshold`` in ``RUN/summary.json`` next to
``RUN/artifacts/best.keras``), else 0.5. A bad model file, a missing or
unreadable image prints one ``error:`` line and exits with code 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

from kerasopt.cli import quiet_tensorflow, run_cli
from kerasopt.layout import SUMMARY

DEFAULT_THRESHOLD = 0.5


def parse_args(argv=None) -> argparse.Namespace:
    from kerasopt.cli import ArgumentParser, positive_int

    parser = ArgumentParser(prog="python -m kerasopt.defects predict", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a saved model, e.g. RUN/artifacts/best.keras")
    parser.add_argument("images", nargs="+", help="image files and/or folders of images")
    parser.add_argument("--threshold", type=_probability, default=None,
                        help="defect probability threshold (default: the run's validation-best threshold, else 0.5)")
    parser.add_argument("--out", required=True, help="output folder (masks, overlays, predictions.csv)")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    return parser.parse_args(argv)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def run_threshold(model_path: str | os.PathLike) -> float | None:
    """``best_threshold`` (or ``val_threshold``) from ``summary.json`` of the run holding the model, if any."""
    model_path = Path(model_path).resolve()
    for folder in (model_path.parent.parent, model_path.parent):
        summary = folder / SUMMARY
        if summary.is_file():
            try:
                metrics = json.loads(summary.read_text()).get("metrics", {})
            except (OSError, ValueError, AttributeError):
                return None
            for key in ("val_threshold", "best_threshold"):
                if isinstance(metrics.get(key), (int, float)) and 0 < metrics[key] < 1:
                    return float(metrics[key])
            return None
    return None


def collect_images(arguments: list[str]) -> list[Path]:
    """Image files named directly or found (not recursively) in named folders, in the given order."""
    from kerasopt.defects.data import IMAGE_SUFFIXES

    found = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"image or folder {argument} does not exist")
    if not found:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {' '.join(arguments)}")
    return found


def predict_images(model, images: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
    """Defect probabilities float32 (H, W) in [0, 1] per image, at each image's own size.

    Args:
        model: a U-Net with input (B, S, S, 3) (S may be None: then 32-multiples of the image size).
        images: float32 RGB (H, W, 3) in [0, 1], any sizes.
    """
    import tensorflow as tf

    size = model.input_shape[1]
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        if size is None:
            for image in chunk:
                target = [max(32, int(round(d / 32)) * 32) for d in image.shape[:2]]
                batch = tf.image.resize(image[None], target, method="bilinear")
                results.append(_back(model(batch, training=False)[0], image.shape[:2]))
            continue
        batch = tf.stack([tf.image.resize(image, (size, size), method="bilinear") for image in chunk])
        probabilities = model(tf.clip_by_value(batch, 0.0, 1.0), training=False)
        results += [_back(p, image.shape[:2]) for p, image in zip(probabilities, chunk)]
    return results


def _back(probability, shape) -> np.ndarray:
    import tensorflow as tf

    resized = tf.image.resize(tf.cast(probability, tf.float32), shape, method="bilinear")[..., 0]
    return np.clip(resized.numpy(), 0.0, 1.0)


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 BGR (H, W, 3): the RGB float ``image`` with ``mask`` pixels tinted red and outlined."""
    import cv2

    bgr = (np.clip(image[..., ::-1], 0, 1) * 255 + 0.5).astype(np.uint8)
    tinted = bgr.copy()
    tinted[mask] = (0.5 * tinted[mask] + 0.5 * np.array([0, 0, 255])).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(tinted, contours, -1, (0, 0, 255), 1)


def _write_png(path: Path, array: np.ndarray) -> None:
    import cv2

    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(encoded.tobytes())


def _main(argv=None) -> int:
    quiet_tensorflow()
    args = parse_args(argv)
    from kerasopt.defects.data import _shown, image_to_float, read_image
    from kerasopt.defects.saving import load_model

    paths = collect_images(args.images)
    images = [image_to_float(read_image(path), path) for path in paths]  # all checked before any output
    threshold = args.threshold if args.threshold is not None else run_threshold(args.model)
    source = "given" if args.threshold is not None else ("the run's validation-best" if threshold else "default")
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    model = load_model(args.model, compile=False)
    if len(model.inputs) != 1 or len(model.input_shape) != 4 or model.input_shape[-1] != 3:
        raise ValueError(f"model {args.model} does not take RGB images (input shape {model.input_shape})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    probabilities = predict_images(model, images, max(1, args.batch_size))
    rows, used = [], set()
    for path, image, probability in zip(paths, images, probabilities):
        stem = os.fsdecode(path.stem)
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}_{k}"
        used.add(name)
        mask = probability >= threshold
        _write_png(out / f"{name}_mask.png", np.where(mask, 255, 0).astype(np.uint8))
        _write_png(out / f"{name}_overlay.png", overlay(image, mask))
        score = float(probability.max())
        rows.append({"file": _shown(path), "defect_score": f"{score:.6f}", "defect_pixels": int(mask.sum()),
                     "predicted_defective": score >= threshold})
    with open(out / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "defect_score", "defect_pixels", "predicted_defective"])
        writer.writeheader()
        writer.writerows(rows)
    defective = sum(row["predicted_defective"] for row in rows)
    print(f"{len(rows)} images, {defective} predicted defective (threshold {threshold:g}, {source}); "
          f"masks, overlays and predictions.csv in {out}")
    return 0


def main(argv=None) -> int:
    """Entry point: bad input prints one ``error:`` line, exit code 2."""
    return run_cli(_main, argv)

"""Reproducible train/val/test splits with defective images in every split.

Pure Python/NumPy (no TensorFlow), shared by the synthetic generator and the
folder and MVTec loaders.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

SPLITS = ("train", "val", "test")


def split_stems(defective: Sequence[str], clean: Sequence[str], seed: int = 0,
                val_fraction: float = 0.15, test_fraction: float = 0.15) -> dict[str, list[str]]:
    """Split file stems into train/val/test, stratified by defective vs defect-free.

    Each group is shuffled with ``numpy.random.default_rng(seed)`` (after sorting,
    so the result does not depend on the input order) and cut into fractions.
    A group with at least 3 stems gives each of val and test at least one stem,
    so defective images reach every split whenever there are 3 or more.

    Args:
        defective: stems of images whose mask has at least one defect pixel.
        clean: stems of defect-free images.
        seed: int, seed of the shuffle.
        val_fraction, test_fraction: floats in [0, 1), sum < 1.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, each sorted.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be in [0, 1) with a sum below 1. "
                         f"Received: val_fraction={val_fraction}, test_fraction={test_fraction}")
    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    for group in (sorted(defective), sorted(clean)):
        order = [group[i] for i in rng.permutation(len(group))]
        n_val, n_test = (_count(len(order), fraction) for fraction in (val_fraction, test_fraction))
        splits["val"] += order[:n_val]
        splits["test"] += order[n_val:n_val + n_test]
        splits["train"] += order[n_val + n_test:]
    return {name: sorted(stems) for name, stems in splits.items()}


def _count(n: int, fraction: float) -> int:
    """Stems of a group of ``n`` that go to a split of ``fraction`` (>= 1 when n >= 3)."""
    if fraction == 0 or n == 0:
        return 0
    return max(1, int(round(fraction * n))) if n >= 3 else 0

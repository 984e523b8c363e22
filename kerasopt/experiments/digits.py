"""A user task: a small CNN on scikit-learn's handwritten digits (offline; `digits_smoke.yaml` runs it).

`sklearn.datasets.load_digits` ships 1797 real scanned digits (8x8 pixels, 16 grey levels) inside
scikit-learn. They are split 60/20/20 (stratified, fixed seed) into training, validation and test sets;
the study selects on validation accuracy and reports test accuracy.
"""

import functools

import keras
import numpy as np

import kerasopt


@functools.cache
def splits() -> dict:
    """``{"train", "validation", "test"}``: (x float32 (N, 8, 8, 1) in [0, 1], y int (N,)) each."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, stratify=y, random_state=0)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0)
    return {"train": (x_train, y_train), "validation": (x_val, y_val), "test": (x_test, y_test)}


def build_model(seed: int) -> keras.Model:
    """Conv(16) -> Conv(32) -> pool -> Dense(10): about 10k weights (kerasopt has seeded the initialisers)."""
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


TASK = kerasopt.KerasTask(
    build_model,
    train=lambda: splits()["train"], validation=lambda: splits()["validation"], test=lambda: splits()["test"],
    loss="sparse_categorical_crossentropy", metrics=["accuracy"], target="accuracy", mode="max",
    epochs=5, batch_size=32, title="Handwritten digits (scikit-learn, 8x8)")

"""Gatys style transfer: the pixels of an image are optimized so that its VGG
features match a content photo and the Gram matrices of a style image.

Public API (imported lazily, so ``import kerasopt.style`` does not load TensorFlow):

- `StyleConfig`: every setting of one run (``from_dict``, ``to_dict``, ``validate``).
- `run(config, run_dir, progress=True) -> dict`: one optimizer run, writes a run record.
- `compare(configs, out_dir) -> {optimizer: run_dir}`: several optimizers from one start image,
  plus comparison.png, curves.png and comparison.md.
- `TARGET`: the metric a study selects on, ``{"metric": "loss", "mode": "min"}``.
- `PIXEL_LEARNING_RATES`: per-optimizer default learning rates for pixels in [0, 255].

CLI: ``python -m kerasopt.style --optimizer lbfgs`` (see ``--help`` and docs/style.md).
"""

TARGET = {"metric": "loss", "mode": "min"}

_LAZY = {"StyleConfig": "kerasopt.style.config", "PIXEL_LEARNING_RATES": "kerasopt.style.config",
         "run": "kerasopt.style.workload", "prepare": "kerasopt.style.workload",
         "compare": "kerasopt.style.workload"}

__all__ = ["TARGET", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerasopt.style' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

"""Weights files in the right format (HDF5) whose layers or kernels do not fit are refused in one line."""

import h5py
import numpy as np
import pytest


def test_hed_weights_with_a_missing_bias_or_misshaped_kernel_are_refused(tmp_path):
    from kerasopt.style.features import _HED_LAYERS, build_extractor

    def write(path, kernel_shape=(3, 3, 3, 64), with_bias=True):
        with h5py.File(path, "w") as handle:
            for block, count in _HED_LAYERS.items():
                for index in range(count):
                    group = handle.create_group(f"block{block}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars")
                    group["0"] = np.zeros(kernel_shape if (block, index) == (1, 0) else (1,), np.float32)
                    if with_bias:
                        group["1"] = np.zeros((64,), np.float32)
        return path

    with pytest.raises(ValueError, match="lacks block1/layers/conv2d/vars/0 and /1"):
        build_extractor("vgg16-hed", str(write(tmp_path / "no_bias.h5", with_bias=False)))
    with pytest.raises(ValueError, match=r"block1_conv1 kernel has shape \(5, 5, 3, 64\)"):
        build_extractor("vgg16-hed", str(write(tmp_path / "kernel.h5", kernel_shape=(5, 5, 3, 64))))


def test_encoder_weights_of_another_network_are_refused_before_any_run(tmp_path):
    from kerasopt.defects.model import check_encoder_weights_fit

    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        handle["dense/kernel"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=f"encoder_weights file {path} does not fit the vgg16 encoder"):
        check_encoder_weights_fit("vgg16", str(path))
    check_encoder_weights_fit("vgg16", None)  # random initialisation: nothing to check

"""Layers and helpers shared across model families."""

from zoo.layers.networks import conv_downsampler, conv_upsampler, dense_stack, network
from zoo.layers.sampling import (normal_per_row, per_row_seeds,
                                 sample_per_row, tfp_seed)
from zoo.layers.spectral import SpectralNormalization

__all__ = ["SpectralNormalization", "conv_downsampler", "conv_upsampler", "dense_stack", "network",
           "normal_per_row", "per_row_seeds", "sample_per_row", "tfp_seed"]

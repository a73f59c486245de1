"""training.likelihood: what each likelihood is of, and densities on dequantized data."""

import math

import numpy as np
import pytest
import tensorflow as tf

import zoo
from training import datasets
from training.likelihood import evaluate, likelihood_info
from training.trainer import train
from zoo.distributions import ImageLikelihood

SHAPE = (8, 8, 1)
D = 64


class _Density:
    """A stand-in density model on [0, 1]^D with a per-pixel log-density.

    `elbo_from_seeds` is an exact log p(y) that ignores its seeds, so the
    ELBO rows are the density's own and vary only with the data.
    """

    capabilities = ()
    num_dims = D
    likelihood = ImageLikelihood("gaussian")

    def __init__(self, log_density):
        self.log_density = log_density

    def preprocessing(self, training=True):
        return "unit"

    def elbo_from_seeds(self, images, seeds):
        return tf.reduce_sum(self.log_density(images), [1, 2, 3])


def _uniform(y):
    # The uniform density on the unit cube: log p = 0 inside.
    inside = tf.logical_and(y >= 0.0, y < 1.0)
    return tf.where(inside, 0.0, -np.inf)


def _peaked(y):
    # A Gaussian of one grey level's width on every grey level of the
    # pixel's value: near the maximum density the decoder's scale floor allows.
    center = tf.round(y * 255.0) / 255.0
    sigma = 1.0 / 255.0
    return -0.5 * ((y - center) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))


def _digits(take=2):
    return datasets.load("digits", "test", batch_size=32, mode="unit", shuffle=False,
                         take=take * 32)


def test_uniform_density_is_eight_bits_per_dim():
    # Every 8-bit image has probability 256^-D under the uniform density
    # after the change of scale: exactly 8 bits/dim.
    model = _Density(_uniform)
    results = evaluate(model, _digits())
    assert results["likelihood_kind"] == "density" and results["num_levels"] == 256
    assert results["evaluation_data"] == "uniformly dequantized 8-bit"
    assert results["test_elbo_bits_per_dim"] == pytest.approx(8.0, abs=1e-6)
    assert results["test_elbo_nats"] == pytest.approx(-D * math.log(256), rel=1e-6)


def test_a_density_no_longer_reports_negative_bits_per_dim():
    # Scored at the grid points this density gives -6.67 bits/dim; on
    # dequantized data it bounds a probability, so bits/dim are positive.
    model = _Density(_peaked)
    results = evaluate(model, _digits(), seed=1)
    assert 0 < results["test_elbo_bits_per_dim"] < 8
    # Only the dequantization noise depends on the seed, and it is seeded:
    # the same seed gives the same number, another seed another.
    again = evaluate(_Density(_peaked), _digits(), seed=1)["test_elbo_bits_per_dim"]
    other = evaluate(_Density(_peaked), _digits(), seed=2)["test_elbo_bits_per_dim"]
    assert again == results["test_elbo_bits_per_dim"] != other


@pytest.mark.parametrize("name,kwargs,expected", [
    ("vae", dict(likelihood="bernoulli"), ("bernoulli", 2, "fixed binarization (binary_static)")),
    ("vae", dict(likelihood="gaussian"), ("density", 256, "uniformly dequantized 8-bit")),
    ("vae", dict(likelihood="discretized_logistic"), ("discrete", 256, "8-bit levels")),
    ("pixelcnn", dict(num_levels=2), ("bernoulli", 2, "fixed binarization (binary_static)")),
    ("pixelcnn", dict(num_levels=16), ("discrete", 16, "16 levels")),
])
def test_likelihood_info_of_zoo_models(name, kwargs, expected):
    tiny = dict(latent_dim=2, hidden_units=(4,)) if name == "vae" else dict(filters=2,
                                                                             num_layers=1)
    model = zoo.get(name, image_shape=(4, 4, 1), **tiny, **kwargs)
    info = likelihood_info(model)
    assert (info["likelihood_kind"], info["num_levels"], info["evaluation_data"]) == expected
    assert info["evaluation_mode"] == model.preprocessing(False)


def test_trained_gaussian_vae_reports_a_bound_on_8_bit_data(tmp_path):
    metrics = train("vae", dataset="digits", epochs=1, batch_size=256, out=str(tmp_path / "g"),
                    overrides={"latent_dim": 2, "hidden_units": (16,), "likelihood": "gaussian"},
                    iwae_samples=2, export=False, verbose=0)
    for row in (metrics["initial_evaluation"], metrics["evaluation"]):
        assert row["likelihood_kind"] == "density" and row["num_levels"] == 256
        assert row["evaluation_data"] == "uniformly dequantized 8-bit"
        assert row["evaluation_mode"] == "unit"
        assert row["test_elbo_bits_per_dim"] > 0
    ev = metrics["evaluation"]
    # IWAE tightens the ELBO; both are bounds of the same 8-bit likelihood.
    assert 0 < ev["test_nll_bits_per_dim"] <= ev["test_elbo_bits_per_dim"] + 0.05

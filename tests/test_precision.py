"""Mixed precision: every family trains in bfloat16 and float16, GANs scale
both players' losses, and exports stay float32 at the signature boundary."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import contract
from training.distribute import precision

# One model per family, plus both adversarial players under loss scaling.
FAMILIES = ["vae", "denoising_autoencoder", "pixelcnn", "gated_pixelcnn", "dcgan",
            "wgan_gp", "ddpm", "vq_vae", "vae_gan"]


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("policy", ["bfloat16", "float16"])
def test_every_family_trains_with_finite_losses(name, policy):
    with precision(policy):
        model = contract.build(name)
    model.compile(**model.make_optimizers())
    before = [np.array(w) for w in model.trainable_weights]
    # Several steps: under float16 the first ones may overflow and be skipped
    # while the loss scale comes down from 2^15.
    history = model.fit(contract.batches(model, n=256, batch_size=32), epochs=2, verbose=0)
    for key, values in history.history.items():
        assert np.all(np.isfinite(values)), (key, values)
    assert all(not np.array_equal(b, np.array(w))
               for b, w in zip(before, model.trainable_weights))
    compute = {"bfloat16": "bfloat16", "float16": "float16"}[policy]
    assert model.dtype_policy.compute_dtype == compute
    # Variables stay float32; what the model hands out is float32.
    assert all(w.dtype == "float32" for w in model.trainable_weights)
    if "sample" in model.capabilities:
        images = model.sample(3, seed=0)
        assert images.dtype == tf.float32 and np.all(np.isfinite(images))
    # The policy was only in force while the model was built.
    assert keras.config.dtype_policy().name == "float32"


def test_float16_gan_scales_both_players_and_skips_an_overflowing_step():
    with precision("float16"):
        model = contract.build("dcgan")
    # A loss scale of 2^40 overflows float16 gradients: the step is skipped
    # by both players, the scale halves, and training recovers.
    model.compile(
        d_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), 2.0 ** 40),
        g_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), 2.0 ** 40))
    assert model.optimizer is model.g_optimizer
    real = next(iter(contract.batches(model, n=16, batch_size=16)))
    g0 = [np.array(w) for w in model.g_variables]
    d0 = [np.array(w) for w in model.d_variables]
    model.train_step(real)
    assert all(np.array_equal(a, np.array(w)) for a, w in zip(g0, model.g_variables))
    assert all(np.array_equal(a, np.array(w)) for a, w in zip(d0, model.d_variables))
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert float(optimizer.dynamic_scale) == 2.0 ** 39
    history = model.fit(contract.batches(model, n=64 * 16, batch_size=16), epochs=1,
                        verbose=0)
    assert all(np.all(np.isfinite(v)) for v in history.history.values())
    assert not all(np.array_equal(a, np.array(w)) for a, w in zip(g0, model.g_variables))
    assert float(model.g_optimizer.dynamic_scale) < 2.0 ** 30
    # Default compile under float16 wraps each player's optimizer.
    model.compile()
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.mark.parametrize("name", ["conv_vae", "dcgan", "pixelcnn"])
def test_mixed_precision_exports_are_float32_and_serve_without_zoo(name, tmp_path):
    model = contract.fit_step(name, "bfloat16")
    # Audit, TF-only reload in a fresh process, every signature == in-process.
    contract.export_round_trip(name, tmp_path, model, atol=2e-2)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    for signature in loaded.signatures.values():
        for spec in list(signature.structured_input_signature[1].values()) + \
                list(signature.structured_outputs.values()):
            assert spec.dtype in (tf.float32, tf.int32), (name, spec)
    # The float32 model with the same weights gives the same images within
    # bfloat16's precision.
    reference = contract.build(name)
    reference.set_weights(model.get_weights())
    got = loaded.signatures["serving_default"](seed=tf.constant([[0, 0], [0, 1]]))
    want = reference.serving_endpoints()["serving_default"][0](tf.constant([[0, 0], [0, 1]]))
    key = "images"
    if name == "pixelcnn":
        # Discrete samples can flip where a conditional is near 1/2; compare
        # the likelihood instead.
        x = contract.real_images(model, 4)
        np.testing.assert_allclose(model.log_prob(x), reference.log_prob(x), rtol=2e-2)
    else:
        np.testing.assert_allclose(got[key], want[key], atol=0.05)

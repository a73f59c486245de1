"""Adversarial autoencoder."""

import tensorflow as tf

from zoo import checks
from zoo.distributions import PRIORS, make_prior
from zoo.errors import InputError
from zoo.gan import networks
from zoo.gan.base import GANBase
from zoo.gan.encoding import EncoderMixin
from zoo.registry import base_arguments, register


@register("aae")
class AAE(EncoderMixin, GANBase):
    """Adversarial autoencoder (Makhzani et al. 2015).

    A deterministic encoder q(z|x) and a decoder are trained to reconstruct
    (mean squared error), while a discriminator on codes tells prior draws
    z ~ p(z) ("real") from encoded data ("fake") and the encoder learns to
    fool it ([1], sec. 2, eq. 1). This matches the aggregated posterior
    q(z) to p(z) using samples alone, so the prior can be any samplable
    `tfp.distributions` object, e.g. a mixture with no closed-form KL.
    Each step: one discriminator update, then one encoder + decoder update
    on reconstruction + adversarial_weight * (-log D(q(x))).

    Args:
      image_shape: (H, W, C).
      latent_dim: size of the code z.
      prior: "normal" or "mixture" (`zoo.distributions.make_prior`);
        subclasses may override `_make_prior` to return any samplable
        distribution with event [latent_dim].
      adversarial_weight: weight of the encoder's adversarial loss.
      architecture: "mlp" ([1]) or "dcgan" encoder/decoder.
      hidden_units: MLP widths of encoder (reversed: decoder) and of the code
        discriminator.
      filters: conv channels per stage (architecture="dcgan").
      ema_decay: None or (0, 1): EMA of the decoder's weights for sampling.
      seed: seeds training randomness.

    References:
      [1] Makhzani et al. Adversarial Autoencoders. arXiv:1511.05644, 2015.
    """

    discriminator_norm = None
    metric_names = GANBase.metric_names + ("reconstruction",)

    def __init__(self, image_shape=(8, 8, 1), latent_dim=8, prior="normal",
                 adversarial_weight=1.0, architecture="mlp", hidden_units=(256, 256),
                 filters=(32, 64), ema_decay=None, seed=None, **kwargs):
        super().__init__(**base_arguments(GANBase, locals()))
        self.prior_kind = checks.choice("prior", prior, PRIORS)
        self.prior = self._make_prior()
        self.adversarial_weight = checks.non_negative_float("adversarial_weight",
                                                            adversarial_weight)
        self.encoder = self._build_encoder()

    def _make_prior(self):
        """p(z): any `tfd` distribution with batch [] and event [latent_dim]."""
        return make_prior(self.prior_kind, self.latent_dim)

    def _build_discriminator(self):
        return networks.mlp_discriminator((self.latent_dim,), self.hidden_units,
                                          name="discriminator")

    # ----------------------------------------------------------------- codes
    def _draw_latents(self, n, seed):
        return self.prior.sample(n, seed=seed)

    def _latent_from_seed(self, seed):
        return self.prior.sample(seed=seed)

    # -------------------------------------------------------------- training
    def _discriminator_inputs(self, real, labels, z, training):
        # "Real": draws from the prior; "fake": codes of the data ([1], sec. 2).
        return z, self.encoder(real, training=training)

    def _generator_terms(self, p):
        terms = super()._generator_terms(p)
        reconstruction = tf.reduce_mean(tf.square(
            self.generator(p.fake_input, training=p.training) - p.real), [1, 2, 3])
        terms["g_loss"] = reconstruction + self.adversarial_weight * terms["g_loss"]
        terms["reconstruction"] = reconstruction
        return terms

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints.update(
            discriminate=(lambda z: {"logits": self._d(z)[:, 0]}, [self.z_spec()]),
            **self.encoder_endpoints())
        return endpoints

    def discriminate(self, z, labels=None):
        """The code discriminator's logits [N] for codes z [N, latent_dim]."""
        if labels is not None:
            raise InputError("aae's discriminator takes no labels")
        return {"logits": self._d(self.check_codes(z))[:, 0]}

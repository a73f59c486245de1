"""BiGAN / ALI: a generator and an encoder learned by one joint discriminator."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.gan.base import GANBase, to_symmetric
from zoo.gan.encoding import EncoderMixin
from zoo.layers.dropout import ReplicaDropout
from zoo.layers.networks import conv_downsampler, network
from zoo.registry import base_arguments, register


@register("bigan")
class BiGAN(EncoderMixin, GANBase):
    """Bidirectional GAN ([1]) / adversarially learned inference ([2]).

    A generator G(z) and an encoder E(x) are trained together against a
    discriminator on pairs: D(x, E(x)) for data ("real") and D(G(z), z)
    for prior draws ("fake"). At the optimum the two joint distributions
    match, so E inverts G ([1], theorem 2). Each step: one discriminator
    update on  -log D(x, E(x)) - log(1 - D(G(z), z)),  then one update of
    E and G together on the same loss with the labels swapped (the
    non-saturating form, [1] sec. 3.4; [2] eq. 6).

    The discriminator reads x through a stride-2 conv trunk ("dcgan") or
    an MLP ("mlp"), z through a dense layer, and joins them with a dense
    layer ([2], appendix A, smaller); dropout on the joint layer follows
    [2].

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z.
      architecture: "mlp" or "dcgan" generator, encoder and x-trunk.
      hidden_units: MLP widths (generator; encoder and x-trunk reversed),
        and the width of the joint layer (the last entry).
      filters: conv channels per stage (architecture="dcgan").
      dropout: dropout rate of the discriminator's joint layer.
      ema_decay: None or (0, 1): EMA of the generator's weights for samples.
      seed: seeds training randomness.

    References:
      [1] Donahue, Kraehenbuehl, Darrell. Adversarial Feature Learning. ICLR 2017.
      [2] Dumoulin et al. Adversarially Learned Inference. ICLR 2017.
    """

    # E learns only through D(x, E(x)): the generator step needs it too.
    generator_reads_real = True

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, architecture="mlp",
                 hidden_units=(256, 256), filters=(32, 64), dropout=0.2, ema_decay=None,
                 seed=None, **kwargs):
        super().__init__(**base_arguments(GANBase, locals()))
        self.dropout = checks.number("dropout", dropout, 0.0, 1.0, high_open=True)
        self.encoder = self._build_encoder()

    def _build_discriminator(self):
        images = keras.Input(self.image_shape, name="images")
        z = keras.Input((self.latent_dim,), name="z")
        if self.architecture == "mlp":
            hx = keras.layers.Flatten()(images)
            for units in reversed(self.hidden_units):
                hx = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(units)(hx))
        else:
            hx = conv_downsampler(images, self.filters)
        hz = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(self.hidden_units[-1])(z))
        h = keras.layers.Concatenate()([hx, hz])
        h = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(self.hidden_units[-1])(h))
        h = ReplicaDropout(self.dropout, seed=self.seed)(h)
        return network([images, z], keras.layers.Dense(1)(h), name="discriminator")

    def _d(self, pair, labels=None, training=False):
        return self.discriminator(list(pair), training=training)

    def _discriminator_inputs(self, real, labels, z, training):
        # "Real": (x, E(x)); "fake": (G(z), z) ([1], eq. 3).
        return ((real, self.encoder(real, training=training)),
                (self._g(z, labels, training=training), z))


    def _generator_terms(self, p):
        return {"g_loss": self.discriminator_loss(p.fake_out[:, 0], p.real_out[:, 0])}

    def discriminate(self, images, z):
        """D's logits [N] for pairs of images [N, H, W, C] and codes [N, latent_dim]."""
        images, z = self.check_images(images), self.check_codes(z)
        return {"logits": self._d((to_symmetric(images), z))[:, 0]}

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints.update(
            discriminate=(lambda images, z: {"logits": self._d(
                (to_symmetric(self.check_images(images)), z))[:, 0]},
                [self.image_spec(), self.z_spec()]),
            **self.encoder_endpoints())
        return endpoints

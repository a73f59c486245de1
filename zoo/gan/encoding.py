"""The encoder side that the adversarial autoencoders share (AAE, BiGAN).

A deterministic encoder E(x) -> z built like the discriminators (no
normalization), trained with the generator by `g_optimizer`, and the
surface it gives: `encode`, `decode` (the generator), `reconstruct`
(G(E(x))) and their serving signatures.
"""

from zoo.gan import networks
from zoo.gan.base import to_symmetric


class EncoderMixin:
    """Mixed into a `GANBase` subclass before it; call `_build_encoder()`
    in the constructor."""

    def _build_encoder(self):
        if self.architecture == "mlp":
            return networks.mlp_discriminator(
                self.image_shape, self.hidden_units, self.latent_dim,
                normalization=None, name="encoder")
        return networks.conv_discriminator(
            self.image_shape, self.filters, self.latent_dim, normalization=None,
            name="encoder")

    @property
    def g_variables(self):
        return self.encoder.trainable_variables + self.generator.trainable_variables

    def _encode(self, images):
        return self.encoder(to_symmetric(images))

    def _decode(self, z):
        return self._generate(z)

    def _reconstruct(self, images):
        return self._decode(self._encode(images))

    def encoder_endpoints(self):
        """`encode` (images -> z), `decode` (z -> images), `reconstruct`."""
        image_spec = self.image_spec()
        return dict(
            encode=(lambda images: {"z": self._encode(self.check_images(images))},
                    [image_spec]),
            decode=(lambda z: {"images": self._decode(z)}, [self.z_spec()]),
            reconstruct=(lambda images: {
                "images": self._reconstruct(self.check_images(images))}, [image_spec]),
        )

"""CycleGAN: two generators and two discriminators trained on unpaired domains."""

import types

import tensorflow as tf

from zoo import checks, losses
from zoo.gan.base import GANBase, to_symmetric, to_unit
from zoo.layers.history import ImageHistory
from zoo.layers.sampling import tfp_seed
from zoo.registry import register
from zoo.translation import networks
from zoo.translation.base import Translation


def _patch_mean(values):
    return tf.reduce_mean(tf.cast(values, tf.float32), [1, 2, 3])


@register("cyclegan")
class CycleGAN(Translation, GANBase):
    """CycleGAN ([1]): G: A -> B and F: B -> A with PatchGAN critics D_B, D_A.

    Least-squares adversarial losses ([1], sec. 4: D minimizes
    1/2 [(D(b) - 1)^2 + D(G(a))^2], G minimizes (D(G(a)) - 1)^2), the cycle
    loss lambda (|F(G(a)) - a|_1 + |G(F(b)) - b|_1) with lambda = 10
    ([1], eq. 2), and the identity loss 0.5 lambda (|G(b) - b|_1 +
    |F(a) - a|_1) ([1], sec. 5.2; only when A and B have the same channels).
    The discriminators see generated images through a history of 50
    (`zoo.layers.history.ImageHistory`, saved with the weights). The
    generators are residual (`networks.residual_generator`, resolution-
    preserving at these sizes), the discriminators PatchGANs. One step: one
    update of both discriminators, then one of both generators.

    `translate` is G (A -> B); `translate_back` is F (B -> A).

    Args:
      image_shape: (H, W, C) of domain B; source_shape: (H, W, C') of A.
      filters, blocks: the generators' width and residual blocks.
      discriminator_filters: the PatchGANs' stride-2 channels.
      cycle_weight: lambda; identity_weight: the identity loss, in units of lambda.
      history_size: images in each history.
      seed: seeds the histories' choices.

    References:
      [1] Zhu, Park, Isola, Efros. Unpaired Image-to-Image Translation using
          Cycle-Consistent Adversarial Networks. ICCV 2017.
    """

    example_task = "task:classes(digits,0-4,5-9)"
    paired = False
    discriminator_loss = staticmethod(losses.least_squares_discriminator)
    generator_loss = staticmethod(losses.least_squares_generator)
    metric_names = GANBase.metric_names + ("cycle", "identity")

    def __init__(self, image_shape=(8, 8, 1), source_shape=(8, 8, 1), filters=32, blocks=2,
                 discriminator_filters=(32,), cycle_weight=10.0, identity_weight=0.5,
                 history_size=50, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=1, architecture="dcgan",
                         filters=discriminator_filters, seed=seed, **kwargs)
        self.source_shape = checks.image_shape(source_shape)
        if self.source_shape[:2] != self.image_shape[:2]:
            raise checks.ConfigError(f"cyclegan maps images of one size: A {self.source_shape}"
                                     f" vs B {self.image_shape}")
        self.generator_filters = checks.positive_int("filters", filters)
        self.blocks = checks.int_at_least("blocks", blocks, 0)
        self.cycle_weight = checks.non_negative_float("cycle_weight", cycle_weight)
        self.identity_weight = checks.non_negative_float("identity_weight", identity_weight)
        self.history_size = checks.positive_int("history_size", history_size)

    def _after_init(self):
        super()._after_init()
        self.generator_back = self._residual(self.image_shape, self.source_shape[-1],
                                             "generator_back")
        self.discriminator_a = networks.patch_discriminator(self.source_shape, self.filters,
                                                            name="discriminator_a")
        self.history_a = ImageHistory(self.history_size, self.source_shape, name="history_a")
        self.history_b = ImageHistory(self.history_size, self.image_shape, name="history_b")
        self.history_a.build()
        self.history_b.build()

    def _residual(self, shape, channels, name):
        return networks.residual_generator(shape, channels, self.generator_filters,
                                           self.blocks, name=name)

    def _build_generator(self, name):
        return self._residual(self.source_shape, self.image_shape[-1], name)

    def _build_discriminator(self):
        return networks.patch_discriminator(self.image_shape, self.filters,
                                            name="discriminator")

    @property
    def g_variables(self):
        return self.generator.trainable_variables + self.generator_back.trainable_variables

    @property
    def d_variables(self):
        return (self.discriminator.trainable_variables
                + self.discriminator_a.trainable_variables)

    # -------------------------------------------------------------- training
    def _forward(self, real, labels, training, with_real=True):
        """Both generators once (b: the B batch, a: the A batch in the
        labels slot); the discriminators run in the terms."""
        a = to_symmetric(labels)
        fake_b = self.generator(a, training=training)
        fake_a = self.generator_back(real, training=training)
        return types.SimpleNamespace(a=a, b=real, fake_a=fake_a, fake_b=fake_b,
                                     training=training)

    def _discriminator_terms(self, p):
        seed = tf.random.experimental.stateless_split(tfp_seed(self.seed_generator), 2)
        hist_b = self.history_b.query(tf.stop_gradient(p.fake_b), seed[0])
        hist_a = self.history_a.query(tf.stop_gradient(p.fake_a), seed[1])
        real_b = self.discriminator(p.b, training=p.training)
        real_a = self.discriminator_a(p.a, training=p.training)
        d_b = 0.5 * _patch_mean(self.discriminator_loss(
            real_b, self.discriminator(hist_b, training=p.training)))
        d_a = 0.5 * _patch_mean(self.discriminator_loss(
            real_a, self.discriminator_a(hist_a, training=p.training)))
        return {"d_loss": d_a + d_b, "d_real": _patch_mean(real_b),
                "d_fake": _patch_mean(self.discriminator(p.fake_b, training=p.training))}

    def _generator_terms(self, p):
        adversarial = (_patch_mean(self.generator_loss(
            self.discriminator(p.fake_b, training=p.training)))
            + _patch_mean(self.generator_loss(
                self.discriminator_a(p.fake_a, training=p.training))))
        cycle = (tf.reduce_mean(tf.abs(self.generator_back(p.fake_b, training=p.training)
                                       - p.a), [1, 2, 3])
                 + tf.reduce_mean(tf.abs(self.generator(p.fake_a, training=p.training)
                                         - p.b), [1, 2, 3]))
        identity = tf.zeros_like(cycle)
        if self.source_shape == self.image_shape and self.identity_weight:
            identity = (tf.reduce_mean(tf.abs(self.generator(p.b, training=p.training) - p.b),
                                       [1, 2, 3])
                        + tf.reduce_mean(tf.abs(self.generator_back(p.a, training=p.training)
                                                - p.a), [1, 2, 3]))
        g_loss = adversarial + self.cycle_weight * (cycle + self.identity_weight * identity)
        return {"g_loss": g_loss, "cycle": cycle, "identity": identity}

    # --------------------------------------------------------------- surface
    def translate_back(self, images):
        """F: B -> A for images [N, *image_shape] in [0, 1]."""
        return self._translate_back(self.check_images(images))

    def _translate_back(self, images):
        return to_unit(self.generator_back(to_symmetric(images), training=False))

    def evaluation_terms(self, images, labels=None):
        """Cycle-consistency error |F(G(a)) - a|_1 per source image."""
        return {"cycle_error": tf.reduce_mean(
            tf.abs(self._translate_back(self._translate(images)) - images), [1, 2, 3])}

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints["translate_back"] = (
            lambda images: {"images": self._translate_back(self.check_images(images))},
            [self.image_spec()])
        return endpoints


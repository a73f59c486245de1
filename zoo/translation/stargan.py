"""StarGAN: one generator translating between several domains (classes)."""

import tensorflow as tf

from zoo import checks, losses
from zoo.gan.base import adam_optimizers, to_symmetric, to_unit
from zoo.gan.critic import CriticBase
from zoo.gan import networks as gan_networks
from zoo.registry import register
from zoo.translation import networks
from zoo.translation.base import Translation


@register("stargan")
class StarGAN(Translation, CriticBase):
    """StarGAN ([1]): G(x, c) translates an image to domain c; D has a critic
    head and a domain-classification head.

    Domains are the dataset's classes (digits: one per digit); batches are
    (images, labels), and each image gets a random target domain c per step.
    D: the WGAN-GP critic loss with lambda_gp = 10 plus lambda_cls times the
    domain cross-entropy of real images ([1], eq. 7 with eq. 8); G: -critic
    of G(x, c) plus lambda_cls times the cross-entropy of D's domain guess of
    G(x, c) for c, plus lambda_rec |x - G(G(x, c), c')|_1 with c' the
    original domain ([1], eq. 4-6). lambda_cls = 1, lambda_rec = 10,
    n_critic = 5, Adam(1e-4, 0.5, 0.999) ([1], sec. 5). G is the residual
    generator with one-hot domain planes on its input; D the DCGAN critic
    with layer normalization (no batchnorm under a gradient penalty).

    `translate(images, labels)` maps each image to domain labels[i].

    Args:
      image_shape: (H, W, C); num_classes: the number of domains.
      filters, blocks: the generator; discriminator_filters: D's stages.
      n_critic, gp_weight, class_weight, reconstruction_weight: as above.
      seed: seeds target domains and penalty points.

    References:
      [1] Choi et al. StarGAN: Unified Generative Adversarial Networks for
          Multi-Domain Image-to-Image Translation. CVPR 2018.
    """

    pair_data = False
    paired = False
    example_task = "digits"
    discriminator_norm = "layer"
    optimizer_defaults = adam_optimizers(1e-4, 0.5, 0.999)
    metric_names = CriticBase.metric_names + ("gp", "class_loss", "reconstruction")

    def __init__(self, image_shape=(8, 8, 1), num_classes=10, filters=32, blocks=2,
                 discriminator_filters=(32, 64), n_critic=5, gp_weight=10.0, class_weight=1.0,
                 reconstruction_weight=10.0, seed=None, **kwargs):
        self.num_classes = checks.int_at_least("num_classes", num_classes, 2)
        super().__init__(image_shape=image_shape, latent_dim=1, n_critic=n_critic,
                         architecture="dcgan", filters=discriminator_filters, seed=seed,
                         **kwargs)
        self.source_shape = self.image_shape
        self.discriminator_outputs = 1 + self.num_classes
        self.generator_filters = checks.positive_int("filters", filters)
        self.blocks = checks.int_at_least("blocks", blocks, 0)
        self.gp_weight = checks.non_negative_float("gp_weight", gp_weight)
        self.class_weight = checks.non_negative_float("class_weight", class_weight)
        self.reconstruction_weight = checks.non_negative_float("reconstruction_weight",
                                                               reconstruction_weight)

    def unpack_batch(self, data):
        return CriticBase.unpack_batch(self, data)

    def _build_generator(self, name):
        return networks.residual_generator(self.image_shape, self.image_shape[-1],
                                           self.generator_filters, self.blocks,
                                           num_classes=self.num_classes, name=name)

    def _build_discriminator(self):
        return gan_networks.conv_discriminator(
            self.image_shape, self.filters, outputs=self.discriminator_outputs,
            normalization="layer", output_bias=True)

    def _translate(self, images, labels=None):
        return to_unit(self.sampling_generator([to_symmetric(images), labels], training=False))

    # -------------------------------------------------------------- training
    def _forward(self, real, labels, training, with_real=True):
        # Each image's target domain, drawn per step; the pair (original,
        # target) rides in the labels slot of the GAN base's pass.
        target = self.training_noise(lambda n, seed: tf.random.stateless_uniform(
            [n], seed, 0, self.num_classes, tf.int32), tf.shape(real)[0])
        return super()._forward(real, (labels, target), training, with_real)

    def _discriminator_inputs(self, real, labels, z, training):
        return real, self.generator([real, labels[1]], training=training)

    def _d(self, x, labels=None, training=False):
        return self.discriminator(x, training=training)

    def _discriminator_terms(self, p):
        critic_real, critic_fake = p.real_out[:, 0], p.fake_out[:, 0]
        eps = self.training_noise(lambda m, seed: tf.random.stateless_uniform([m], seed),
                                  tf.shape(p.real_input)[0])
        gp = losses.gradient_penalty(lambda x: self._d(x, training=p.training)[:, 0],
                                     p.real_input, p.fake_input, eps)
        class_loss = losses.class_cross_entropy(p.real_out[:, 1:], p.labels[0])
        return {"d_loss": self.discriminator_loss(critic_real, critic_fake)
                + self.gp_weight * gp + self.class_weight * class_loss,
                "d_real": critic_real, "d_fake": critic_fake, "gp": gp,
                "class_loss": class_loss}

    def _generator_terms(self, p):
        original, target = p.labels
        back = self.generator([p.fake_input, original], training=p.training)
        reconstruction = tf.reduce_mean(tf.abs(back - p.real), [1, 2, 3])
        class_loss = losses.class_cross_entropy(p.fake_out[:, 1:], target)
        return {"g_loss": self.generator_loss(p.fake_out[:, 0])
                + self.class_weight * class_loss
                + self.reconstruction_weight * reconstruction,
                "class_loss": class_loss, "reconstruction": reconstruction}

    def evaluation_terms(self, images, labels=None):
        """For each test image, translated to the next domain (label + 1 mod K):
        how often D's domain head agrees, and the L1 error of translating back."""
        if labels is None:
            return {}
        labels = tf.cast(labels, tf.int32)
        target = (labels + 1) % self.num_classes
        out = self._translate(images, target)
        logits = self._d(to_symmetric(out))[:, 1:]
        back = self._translate(out, labels)
        return {"target_domain_accuracy": losses.accuracy(logits, target),
                "reconstruction_l1": tf.reduce_mean(tf.abs(back - images), [1, 2, 3])}

"""Auxiliary classifier GAN."""

import tensorflow as tf

from zoo.gan.base import GANBase, bce_discriminator_loss, non_saturating_generator_loss
from zoo.gan.cgan import check_num_classes
from zoo.registry import register


@register("acgan")
class ACGAN(GANBase):
    """AC-GAN (Odena, Olah & Shlens 2017).

    G(z, c) is class-conditional; D sees only the image and has two heads:
    the source logit (real/fake) and class logits. D maximizes L_S + L_C,
    G maximizes L_C - L_S ([1], eqs. 2-3), i.e. here G minimizes the
    non-saturating source loss plus the class cross-entropy of its samples.

    Args:
      image_shape: (H, W, C).
      num_classes: number of classes (>= 2).
      latent_dim: size of z ~ N(0, I).
      architecture: "dcgan" ([1]) or "mlp".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Odena, Olah, Shlens. Conditional Image Synthesis with Auxiliary
          Classifier GANs. ICML 2017.
    """

    requires_labels = True
    extra_metrics = ("class_loss", "class_accuracy")

    def __init__(self, image_shape=(8, 8, 1), num_classes=10, latent_dim=64,
                 architecture="dcgan", hidden_units=(256, 256), filters=(64, 128),
                 ema_decay=None, seed=None, **kwargs):
        self.num_classes = check_num_classes(num_classes)
        self.discriminator_outputs = 1 + self.num_classes
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         architecture=architecture, hidden_units=hidden_units,
                         filters=filters, ema_decay=ema_decay, seed=seed, **kwargs)
        self._build_networks()

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes)
        return config

    def _class_loss(self, outputs, labels):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=outputs[:, 1:]))

    def _discriminator_loss(self, real, labels, z, training):
        fake = self._g(z, labels, training=training)
        real_out = self._d(real, training=training)
        fake_out = self._d(fake, training=training)
        class_loss = self._class_loss(real_out, labels) + self._class_loss(fake_out, labels)
        loss = bce_discriminator_loss(real_out[:, :1], fake_out[:, :1]) + class_loss
        accuracy = tf.reduce_mean(tf.cast(tf.equal(
            tf.argmax(real_out[:, 1:], -1, output_type=tf.int32), labels), tf.float32))
        return loss, {"d_real": tf.reduce_mean(tf.sigmoid(real_out[:, 0])),
                      "d_fake": tf.reduce_mean(tf.sigmoid(fake_out[:, 0])),
                      "class_loss": class_loss, "class_accuracy": accuracy}

    def _generator_loss(self, real, labels, z, training):
        fake_out = self._d(self._g(z, labels, training=training), training=training)
        return non_saturating_generator_loss(fake_out[:, :1]) + \
            self._class_loss(fake_out, labels), {}

    def _discriminate(self, images, labels=None):
        out = self._d(2.0 * images - 1.0)
        return {"logits": out[:, 0], "class_logits": out[:, 1:]}

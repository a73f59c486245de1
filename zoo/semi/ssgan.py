"""Semi-supervised GAN with a K+1-class discriminator and feature matching."""

import keras
import tensorflow as tf

from zoo import checks, losses
from zoo.gan.base import GANBase, to_symmetric
from zoo.layers.dropout import ReplicaDropout
from zoo.layers.minibatch import MinibatchDiscrimination
from zoo.layers.networks import conv_downsampler, network
from zoo.registry import base_arguments, register
from zoo.semi.base import SemiSupervised


@register("ssgan")
class SSGAN(SemiSupervised, GANBase):
    """The semi-supervised GAN of Salimans et al. ([1], sec. 5).

    The discriminator is a K-class classifier whose K+1-th class, "fake",
    has its logit fixed at 0, so D(x) = Z(x) / (Z(x) + 1) with Z(x) =
    sum_k exp(l_k(x)), i.e. 1 - softmax_{K+1}. Its loss on a batch is

        L = L_supervised + L_unsupervised,
        L_supervised = -log p(y | x, y < K+1) on the labelled rows,
        L_unsupervised = -log D(x) - log(1 - D(G(z)))

    (the standard GAN loss on the logit log Z(x), `zoo.losses.
    k_plus_one_real_logit`; for K = 1 it is exactly the GAN's). The
    generator uses feature matching on the discriminator's last hidden
    layer ([1], sec. 3.1), which [1] found best for classification;
    `minibatch_kernels` > 0 adds minibatch discrimination ([1], sec. 3.2)
    before the head, after which a row's class scores depend on its batch.
    `classify(images)` is softmax over the K logits.

    Args:
      image_shape: (H, W, C).
      num_classes: K.
      latent_dim: size of z.
      architecture: "mlp" or "dcgan".
      hidden_units, filters: network sizes (see `GANBase`).
      minibatch_kernels: B of minibatch discrimination (0: off).
      supervised_weight: weight of L_supervised.
      dropout: dropout rate of D's hidden layers (its input: rate / 2.5),
        the regularizer [1] relies on with few labels.
      ema_decay: None or (0, 1): EMA of the generator for samples.
      seed: seeds the training noise.

    References:
      [1] Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen. Improved
          Techniques for Training GANs. NeurIPS 2016.
    """

    hub_endpoint = "classify"
    metric_names = GANBase.metric_names + ("class_loss", "accuracy")
    # Feature matching needs D's features of real data in the G step too.
    generator_reads_real = True

    def __init__(self, image_shape=(8, 8, 1), num_classes=10, latent_dim=32,
                 architecture="mlp", hidden_units=(256, 256), filters=(32, 64),
                 minibatch_kernels=0, supervised_weight=1.0, dropout=0.5, ema_decay=None,
                 seed=None, **kwargs):
        super().__init__(**base_arguments(GANBase, locals()))
        self.num_classes = checks.int_at_least("num_classes", num_classes, 1)
        self.discriminator_outputs = self.num_classes
        self.minibatch_kernels = checks.int_at_least("minibatch_kernels",
                                                     minibatch_kernels, 0)
        self.supervised_weight = checks.non_negative_float("supervised_weight",
                                                           supervised_weight)
        self.dropout = checks.number("dropout", dropout, 0.0, 1.0, high_open=True)

    def _build_discriminator(self):
        """[1]'s MNIST discriminator, scaled: dropout after the input and
        every hidden layer, LeakyReLU, no normalization; outputs the K class
        logits and, appended, the last hidden layer (feature matching)."""
        images = keras.Input(self.image_shape, name="images")
        h = ReplicaDropout(self.dropout / 2.5, seed=self.seed)(images)
        if self.architecture == "mlp":
            h = keras.layers.Flatten()(h)
            for units in reversed(self.hidden_units):
                h = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(units)(h))
                h = ReplicaDropout(self.dropout, seed=self.seed)(h)
        else:
            h = conv_downsampler(h, self.filters)
            h = ReplicaDropout(self.dropout, seed=self.seed)(h)
        features = h
        if self.minibatch_kernels:
            h = MinibatchDiscrimination(self.minibatch_kernels, 5)(h)
        logits = keras.layers.Dense(self.num_classes)(h)
        return network(images, keras.layers.Concatenate()([logits, features]),
                       name="discriminator")

    @property
    def conditional(self):
        # The generator is unconditional; labels only teach the discriminator.
        return False

    def _split(self, outputs):
        return outputs[:, :self.num_classes], outputs[:, self.num_classes:]


    def _discriminator_terms(self, p):
        real_logits, _ = self._split(p.real_out)
        fake_logits, _ = self._split(p.fake_out)
        real, fake = (losses.k_plus_one_real_logit(real_logits),
                      losses.k_plus_one_real_logit(fake_logits))
        class_loss = losses.masked_class_cross_entropy(real_logits, p.labels)
        return {"d_loss": losses.gan_discriminator(real, fake)
                + self.supervised_weight * class_loss,
                "d_real": tf.sigmoid(real), "d_fake": tf.sigmoid(fake),
                "class_loss": class_loss,
                "accuracy": self.labelled_accuracy(real_logits, p.labels)}

    def _generator_terms(self, p):
        _, real_features = self._split(p.real_out)
        _, fake_features = self._split(p.fake_out)
        return {"g_loss": losses.feature_matching(tf.cast(real_features, tf.float32),
                                                  tf.cast(fake_features, tf.float32))}

    def _class_logits(self, images):
        return self._split(self._d(to_symmetric(images)))[0]

    def _discriminate(self, images, labels=None):
        logits = self._class_logits(images)
        return {"logits": losses.k_plus_one_real_logit(logits), "class_logits": logits}

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints["classify"] = self.classify_endpoint()
        return endpoints

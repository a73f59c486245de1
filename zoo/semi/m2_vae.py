"""Kingma et al.'s semi-supervised VAE: M2, and M1+M2 on a trained VAE's codes."""

import keras
import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.distributions import diagonal_gaussian, make_prior
from zoo.errors import ConfigError
from zoo.layers.networks import dense_stack, network
from zoo.layers.sampling import normal_per_row
from zoo.losses import kl_divergence, masked_class_cross_entropy
from zoo.registry import register
from zoo.semi.base import SemiSupervised
from zoo.vae.vae import VAE

_LOG_2PI = float(np.log(2.0 * np.pi))


@register("m2_vae")
class M2VAE(SemiSupervised, GenerativeModel):
    """M2 ([1], sec. 3.1.2): a classifier q(y|x), an encoder q(z|x, y) and a
    decoder p(x|y, z), with p(y) uniform and p(z) = N(0, I).

    For a labelled (x, y) the bound is  L(x, y) = E_q(z|x,y)[log p(x|y,z)]
    + log p(y) - KL(q(z|x,y) || p(z))  ([1], eq. 6); for an unlabelled x,
    y is summed out:  U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))  ([1], eq. 7).
    The loss of a batch with labels -1 for unlabelled rows is, per row,
    -L(x, y) + alpha * (-log q(y|x)) where labelled, else -U(x) ([1], eq. 9).
    One z draw per row serves all K values of y.

    With `m1_latent_dim` the model is M1+M2 ([1], sec. 3.2): a zoo `vae`
    (M1, built inside, not trained here; start it from a finished `vae` run
    with `--init-from`) maps x to z1 ~ q(z1|x), and M2 models z1 with a
    diagonal Gaussian decoder. Samples are then M1's decoding of M2's z1.

    Surface: `classify`, `sample(labels=...)`, `analogies` (the style z of
    each test image rendered with every class, [1] fig. 1), and
    `elbo_from_seeds`, a bound on log p(x) of the pixels that the
    evaluation puts in the VAEs' column (for M1+M2: log p(x|z1) - log
    q(z1|x) + U(z1), since U(z1) bounds log p(z1)).

    Args:
      image_shape: (H, W, C).
      num_classes: K.
      latent_dim: size of z.
      hidden_units: MLP widths of the classifier, encoder and decoder.
      alpha: weight of the classification term on labelled rows ([1]: 0.1 N
        for a sum over N examples; per example, of the order of the bound).
      m1_latent_dim: None (M2 on pixels) or M1's latent size (M1+M2).
      seed: seeds the training noise.

    References:
      [1] Kingma, Rezende, Mohamed, Welling. Semi-supervised Learning with
          Deep Generative Models. NeurIPS 2014.
    """

    samples_are_means = True
    hub_endpoint = "classify"
    metric_names = ("loss", "labelled_bound", "unlabelled_bound", "classification",
                    "accuracy")

    def __init__(self, image_shape=(8, 8, 1), num_classes=10, latent_dim=16,
                 hidden_units=(256, 256), alpha=10.0, m1_latent_dim=None, seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.num_classes = checks.int_at_least("num_classes", num_classes, 2)
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units)
        self.alpha = checks.non_negative_float("alpha", alpha)
        self.m1_latent_dim = checks.optional(checks.positive_int, "m1_latent_dim",
                                             m1_latent_dim)
        self.prior = make_prior("normal", self.latent_dim)
        self.m1 = None
        if self.m1_latent_dim:
            self.m1 = VAE(image_shape=self.image_shape, latent_dim=self.m1_latent_dim,
                          seed=seed, name="m1")
            self.m1.trainable = False
        self.data_dim = self.m1_latent_dim or self.num_dims
        k, out = self.num_classes, self.data_dim * (2 if self.m1 else 1)
        self.classifier = self._mlp(self.data_dim, k, "classifier")
        self.encoder = self._mlp(self.data_dim + k, 2 * self.latent_dim, "encoder")
        self.decoder = self._mlp(self.latent_dim + k, out, "decoder")
        self.built = True

    def _mlp(self, inputs, outputs, name):
        x = keras.Input((inputs,))
        return network(x, keras.layers.Dense(outputs)(dense_stack(x, self.hidden_units)),
                       name=name)

    @property
    def conditional(self):
        return True

    def preprocessing(self, training=True):
        return "binary_dynamic" if training else "binary_static"

    # ------------------------------------------------------------ pieces
    def _data(self, images, eps1=None):
        """What M2 models: pixels [N, D], or M1's z1 (its mean, or a draw)."""
        if self.m1 is None:
            return tf.reshape(images, [-1, self.num_dims])
        q = self.m1.posterior(images)
        return q.mean() if eps1 is None else q.mean() + q.stddev() * eps1

    def _one_hot(self, labels):
        return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)

    def _class_logits(self, images):
        return self.classifier(self._data(images))

    def _log_px(self, params, x):
        if self.m1 is None:
            return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
                labels=x, logits=params), -1)
        mean, log_var = tf.split(params, 2, -1)
        return -0.5 * tf.reduce_sum(
            _LOG_2PI + log_var + tf.square(x - mean) * tf.exp(-log_var), -1)

    def bounds(self, x, eps):
        """L(x, y) for every y: [N, K], with z = mean + std * eps for each y."""
        n, k = tf.shape(x)[0], self.num_classes
        xk = tf.repeat(x, k, axis=0)
        yk = tf.tile(tf.eye(k), [n, 1])
        mean, log_var = tf.split(self.encoder(tf.concat([xk, yk], -1)), 2, -1)
        q = diagonal_gaussian(mean, log_var)
        z = mean + tf.exp(0.5 * log_var) * tf.repeat(eps, k, axis=0)
        log_px = self._log_px(self.decoder(tf.concat([z, yk], -1)), xk)
        bound = log_px - np.log(float(k)) - kl_divergence(q, self.prior)
        return tf.reshape(bound, [n, k])

    @staticmethod
    def unlabelled_bound(bounds, class_logits):
        """U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)), [N] ([1], eq. 7)."""
        q = tf.nn.softmax(class_logits)
        log_q = tf.nn.log_softmax(class_logits)
        return tf.reduce_sum(q * bounds, -1) - tf.reduce_sum(q * log_q, -1)

    # -------------------------------------------------------------- training
    def loss_terms(self, images, labels, training):
        n = tf.shape(images)[0]
        eps1 = None
        if self.m1 is not None:
            eps1 = self.training_noise(lambda r, s: tf.random.stateless_normal(
                [r, self.m1_latent_dim], seed=s), n)
        x = self._data(images, eps1)
        eps = self.training_noise(lambda r, s: tf.random.stateless_normal(
            [r, self.latent_dim], seed=s), n)
        bounds = self.bounds(x, eps)
        logits = self.classifier(x, training=training)
        labelled = self.labelled(labels)
        own = tf.gather(bounds, tf.maximum(labels, 0), batch_dims=1)
        cross_entropy = masked_class_cross_entropy(logits, labels)
        unlabelled = self.unlabelled_bound(bounds, logits)
        loss = labelled * (-own + self.alpha * cross_entropy) - (1.0 - labelled) * unlabelled

        def over(mask, values):
            return tf.reduce_sum(mask * values) / tf.maximum(tf.reduce_sum(mask), 1.0)

        return {"loss": loss, "labelled_bound": over(labelled, own),
                "unlabelled_bound": over(1.0 - labelled, unlabelled),
                "classification": over(labelled, cross_entropy),
                "accuracy": self.labelled_accuracy(logits, labels)}

    # --------------------------------------------------------------- surface
    def _generate(self, z, labels):
        """Pixel probabilities [N, H, W, C] of p(x|y, z)."""
        params = self.decoder(tf.concat([z, self._one_hot(labels)], -1))
        if self.m1 is not None:
            return self.m1._decode(tf.split(params, 2, -1)[0])
        return tf.reshape(tf.sigmoid(params), tf.concat([[-1], self.image_shape], 0))

    def _sample_outputs(self, seeds, labels=None):
        means = self._generate(normal_per_row(seeds, self.latent_dim), labels)
        u = tf.map_fn(lambda s: tf.random.stateless_uniform(
            self.image_shape, tf.random.experimental.stateless_fold_in(s, 1)), seeds,
            fn_output_signature=tf.float32)
        return {"images": means, "draws": tf.cast(u < means, tf.float32)}

    def _sample(self, seeds, labels=None):
        return self._sample_outputs(seeds, labels)["images"]

    def analogies(self, images):
        """Each image's style z (under its predicted class) decoded with every
        class: [N, num_classes, H, W, C]."""
        return self._analogies(self.check_images(images))

    def _analogies(self, images):
        x = self._data(images)
        y = tf.argmax(self.classifier(x), -1, output_type=tf.int32)
        z = tf.split(self.encoder(tf.concat([x, self._one_hot(y)], -1)), 2, -1)[0]
        n, k = tf.shape(x)[0], self.num_classes
        grid = self._generate(tf.repeat(z, k, axis=0), tf.tile(tf.range(k), [n]))
        return tf.reshape(grid, tf.concat([[n, k], self.image_shape], 0))

    def elbo_from_seeds(self, images, seeds):
        """A lower bound on log p(x) per image [N], noise from seed row i."""
        images = self.check_images(images)
        eps = normal_per_row(checks.seeds(seeds), self.latent_dim)
        if self.m1 is None:
            x = self._data(images)
            return self.unlabelled_bound(self.bounds(x, eps), self.classifier(x))
        q1 = self.m1.posterior(images)
        # z1's noise from a second stream of each seed row.
        seeds1 = tf.map_fn(lambda s: tf.random.experimental.stateless_fold_in(s, 2),
                           checks.seeds(seeds), fn_output_signature=tf.int32)
        eps1 = normal_per_row(seeds1, self.m1_latent_dim)
        z1 = q1.mean() + q1.stddev() * eps1
        u = self.unlabelled_bound(self.bounds(z1, eps), self.classifier(z1))
        return self.m1.log_px(z1, images) - q1.log_prob(z1) + u

    def figures(self, images, seed=0):
        """Analogies: each of 8 test images, then its style in every class."""
        del seed
        x = np.asarray(images, np.float32)[:8]
        grid = np.concatenate([x[:, None], np.asarray(self._analogies(x))], 1)
        return {"analogies": (grid.reshape((-1,) + self.image_shape), self.num_classes + 1)}

    def warm_start(self, source):
        """Copies a finished `vae` run's weights into M1 (M1+M2 only)."""
        if self.m1 is None or getattr(source, "registered_name", None) != "vae":
            raise ConfigError("m2_vae starts only from a `vae` run, as M1 of M1+M2 "
                              "(--set m1_latent_dim=...)")
        mine, theirs = self.m1.get_config(), source.get_config()
        differ = [k for k in mine if k != "name" and mine[k] != theirs.get(k)]
        if differ:
            raise ConfigError(f"the vae run differs from M1 in {', '.join(differ)}; pass "
                              f"the same --set options as that run (m1_latent_dim = "
                              f"its latent_dim)")
        for mine_w, their_w in zip(self.m1.weights, source.weights):
            mine_w.assign(their_w)
        return ["m1"]

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        spec = self.image_spec()
        endpoints.update(
            classify=self.classify_endpoint(),
            analogies=(lambda images: {"images": self._analogies(self.check_images(images))},
                       [spec]),
            elbo=(lambda images, seed: {"elbo": self.elbo_from_seeds(images, seed)},
                  [spec, self.seed_spec()]))
        return endpoints

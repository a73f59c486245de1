"""Shared machinery of the adversarial family: two players, two optimizers.

`GANBase.train_step` runs `d_steps` discriminator updates, then one
generator update (Algorithm 1 of [1]); each update touches only its own
player's variables. Subclasses choose networks and losses through small
hooks (`_discriminator_loss`, `_generator_loss`, `_after_d_step`, ...).

Images: the public API, the datasets (`preprocessing` "unit") and every
exported signature use [0, 1]; inside, both players work in [-1, 1] so the
generator can end in tanh ([2], sec. 3).

References:
  [1] Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
  [2] Radford, Metz, Chintala. Unsupervised Representation Learning with
      Deep Convolutional GANs. ICLR 2016.
  [3] Yazici et al. The Unusual Effectiveness of Averaging in GAN
      Training. ICLR 2019 (exponential moving average of the generator).
"""

import keras
import numpy as np
import tensorflow as tf
from keras.src.saving import serialization_lib

from zoo.base import GenerativeModel
from zoo.checks import positive_int, positive_ints
from zoo.errors import ConfigError, InputError
from zoo.gan import networks


def to_symmetric(images):
    """[0, 1] -> [-1, 1]."""
    return 2.0 * images - 1.0


def to_unit(images):
    """[-1, 1] -> [0, 1] (clipped: tanh may round to exactly +-1)."""
    return tf.clip_by_value(0.5 * (images + 1.0), 0.0, 1.0)


def bce_discriminator_loss(real_logits, fake_logits):
    """-log D(x) - log(1 - D(G(z))) ([1], eq. 1), on logits, mean over rows."""
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + \
        tf.reduce_mean(tf.nn.softplus(fake_logits))


def non_saturating_generator_loss(fake_logits):
    """-log D(G(z)), the generator loss [1] recommends in practice (sec. 3)."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


class GANBase(GenerativeModel):
    """A generator G(z) and a discriminator D(x) trained in alternation.

    Args:
      image_shape: (H, W, C).
      latent_dim: size of the generator's input z.
      architecture: "mlp" ([1]) or "dcgan" ([2]) networks.
      hidden_units: widths of the MLP layers (generator; the discriminator
        uses them reversed).
      filters: channels of the stride-2 stages of the DCGAN discriminator,
        reversed in the generator.
      ema_decay: None, or the decay in (0, 1) of an exponential moving
        average of the generator's weights [3], then used by `sample`,
        `generate` and every export.
      seed: seeds the noise of training.

    Subclass attributes:
      d_steps: discriminator updates per generator update.
      discriminator_norm: normalization of the discriminator's hidden layers.
      discriminator_takes_labels: conditional discriminator (cGAN) or not.
      discriminator_outputs: width of the discriminator's head.
    """

    hub_endpoint = "generate"
    requires_labels = False
    d_steps = 1
    discriminator_norm = "batch"
    discriminator_takes_labels = False
    discriminator_outputs = 1
    #: Whether the discriminator's head has a bias (a critic's loss ignores it).
    discriminator_bias = True
    #: Name of the discriminator output in `discriminate`.
    score_name = "logits"
    #: Adam settings of `make_optimizers`: learning rate, beta_1, beta_2 ([2]).
    adam = (2e-4, 0.5, 0.999)

    def __init__(self, image_shape, latent_dim, architecture, hidden_units,
                 filters, ema_decay, seed, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.latent_dim = positive_int("latent_dim", latent_dim)
        if architecture not in networks.ARCHITECTURES:
            raise ConfigError(f"architecture must be one of "
                              f"{networks.ARCHITECTURES}, got {architecture!r}")
        self.architecture = architecture
        self.hidden_units = positive_ints("hidden_units", hidden_units)
        self.filters = positive_ints("filters", filters)
        if ema_decay is not None:
            try:
                ok = 0.0 < float(ema_decay) < 1.0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigError(
                    f"ema_decay must be None or a number in (0, 1), got {ema_decay!r}")
            ema_decay = float(ema_decay)
        self.ema_decay = ema_decay

    def _build_networks(self):
        """Builds the players (and the EMA copy); subclasses call it last in __init__."""
        self.generator = self._build_generator("generator")
        self.discriminator = self._build_discriminator()
        if self.ema_decay is not None:
            self.ema_generator = self._build_generator("ema_generator")
            self.ema_generator.trainable = False
            for ema, w in zip(self.ema_generator.weights, self.generator.weights):
                ema.assign(w)
        self._make_trackers()
        self.built = True

    def _build_generator(self, name):
        classes = self.num_classes if self.conditional else None
        if self.architecture == "mlp":
            return networks.mlp_generator(self.latent_dim, self.image_shape,
                                          self.hidden_units, classes, name=name)
        return networks.conv_generator(self.latent_dim, self.image_shape,
                                       self.filters, classes, name=name)

    def _build_discriminator(self):
        classes = self.num_classes if self.discriminator_takes_labels else None
        if self.architecture == "mlp":
            return networks.mlp_discriminator(
                self.image_shape, tuple(reversed(self.hidden_units)),
                self.discriminator_outputs, classes, self.discriminator_norm,
                self.discriminator_bias)
        return networks.conv_discriminator(
            self.image_shape, self.filters, self.discriminator_outputs, classes,
            self.discriminator_norm, self.discriminator_bias)

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, architecture=self.architecture,
                      hidden_units=self.hidden_units, filters=self.filters,
                      ema_decay=self.ema_decay)
        return config

    def preprocessing(self, training=True):
        del training
        return "unit"

    # ----------------------------------------------------------- the players
    @property
    def sampling_generator(self):
        """The generator used for samples and exports: the EMA copy when on."""
        return self.ema_generator if self.ema_decay is not None else self.generator

    @property
    def g_variables(self):
        return self.generator.trainable_variables

    @property
    def d_variables(self):
        return self.discriminator.trainable_variables

    def _g(self, z, labels=None, training=False, network=None):
        network = network or self.generator
        inputs = z if labels is None or not self.conditional else [z, labels]
        return network(inputs, training=training)

    def _d(self, x, labels=None, training=False):
        """Raw discriminator outputs [N, discriminator_outputs] for x in [-1, 1]."""
        inputs = [x, labels] if self.discriminator_takes_labels else x
        return self.discriminator(inputs, training=training)

    # ----------------------------------------------------------------- codes
    def _random_latents(self, n):
        """Training noise z [n, latent_dim] from the model's seed generator."""
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def _latent_from_seed(self, seed):
        """One code [latent_dim] from one int32 seed row [2] (stateless)."""
        return tf.random.stateless_normal([self.latent_dim], seed=seed)

    def latents_from_seeds(self, seeds):
        """Codes [N, latent_dim], row i drawn from seed row i alone."""
        return tf.map_fn(self._latent_from_seed, seeds, fn_output_signature=tf.float32)

    # --------------------------------------------------------------- surface
    def _generate(self, z, labels=None):
        return to_unit(self._g(z, labels, network=self.sampling_generator))

    def _sample(self, seeds, labels=None):
        return self._generate(self.latents_from_seeds(seeds), labels)

    def _labels_arg(self, labels, num_rows, needed):
        if not needed:
            if labels is not None:
                raise InputError(f"model {self.registered_name!r} takes no labels here")
            return None
        if labels is None:
            raise InputError(f"model {self.registered_name!r} is class-conditional: "
                             f"pass labels in [0, {self.num_classes})")
        return self.check_labels(labels, num_rows)

    def generate(self, z, labels=None):
        """Images [N, H, W, C] in [0, 1] from codes z [N, latent_dim] (+ labels [N])."""
        z = self.check_codes(z)
        return self._generate(z, self._labels_arg(labels, z.shape[0], self.conditional))

    def discriminate(self, images, labels=None):
        """The discriminator's outputs for images [N, H, W, C] in [0, 1]: a dict
        of [N] (or [N, K]) tensors, e.g. {"logits"} or {"critic"}."""
        images = self.check_images(images)
        labels = self._labels_arg(labels, images.shape[0], self.discriminator_takes_labels)
        return self._discriminate(images, labels)

    def _discriminate(self, images, labels=None):
        return {self.score_name: self._d(to_symmetric(images), labels)[:, 0]}

    def call(self, inputs, training=False):
        return self._generate(inputs)

    # -------------------------------------------------------------- training
    def _make_trackers(self):
        names = ("d_loss", "g_loss", "d_real", "d_fake") + self.extra_metrics
        self._trackers = [keras.metrics.Mean(name=n) for n in names]

    #: Names of further per-step values the losses report.
    extra_metrics = ()

    @property
    def metrics(self):
        return list(self._trackers)

    def _score(self, outputs):
        """What d_real / d_fake report: D's probability for logit models."""
        return tf.sigmoid(outputs)

    def _discriminator_loss(self, real, labels, z, training):
        """(loss, {metric: value}) for real images in [-1, 1] and codes z."""
        fake = self._g(z, labels, training=training)
        real_out = self._d(real, labels, training=training)[:, :1]
        fake_out = self._d(fake, labels, training=training)[:, :1]
        return bce_discriminator_loss(real_out, fake_out), {
            "d_real": tf.reduce_mean(self._score(real_out)),
            "d_fake": tf.reduce_mean(self._score(fake_out))}

    def _generator_loss(self, real, labels, z, training):
        """(loss, {metric: value}); `real` is there for models that need it (AAE)."""
        fake_out = self._d(self._g(z, labels, training=training), labels,
                           training=training)[:, :1]
        return non_saturating_generator_loss(fake_out), {}

    def _after_d_step(self):
        """Runs after every discriminator update (WGAN clips weights here)."""

    def _unpack(self, data):
        """(images in [-1, 1], int32 labels or None) from a `fit` batch."""
        if isinstance(data, (tuple, list)):
            images, labels = data[0], (data[1] if len(data) > 1 else None)
        else:
            images, labels = data, None
        if self.requires_labels:
            if labels is None:
                raise InputError(
                    f"model {self.registered_name!r} is class-conditional: its "
                    "dataset must yield (images, labels) batches, e.g. "
                    "training.datasets.load(..., labels=True) on a labelled dataset")
            labels = self.check_labels(labels)
        return to_symmetric(tf.cast(images, tf.float32)), labels

    def d_step(self, real, labels=None):
        """One discriminator update on real images in [-1, 1]; returns its metrics."""
        z = self._random_latents(tf.shape(real)[0])
        with tf.GradientTape() as tape:
            loss, logs = self._discriminator_loss(real, labels, z, training=True)
        variables = self.d_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._after_d_step()
        return {"d_loss": loss, **logs}

    def g_step(self, real, labels=None):
        """One generator update (the discriminator is only read); returns its metrics."""
        z = self._random_latents(tf.shape(real)[0])
        with tf.GradientTape() as tape:
            loss, logs = self._generator_loss(real, labels, z, training=True)
        variables = self.g_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._update_ema()
        return {"g_loss": loss, **logs}

    def _update_ema(self):
        if self.ema_decay is None:
            return
        d = self.ema_decay
        for ema, w in zip(self.ema_generator.weights, self.generator.weights):
            ema.assign(d * ema + (1.0 - d) * w)

    def _report(self, logs):
        for tracker in self._trackers:
            if tracker.name in logs:
                tracker.update_state(logs[tracker.name])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        real, labels = self._unpack(data)
        logs = {}
        # Algorithm 1 of [1]: k discriminator updates, each with fresh noise
        # (the real batch is reused), then one generator update.
        for _ in range(self.d_steps):
            logs.update(self.d_step(real, labels))
        logs.update(self.g_step(real, labels))
        return self._report(logs)

    def test_step(self, data):
        real, labels = self._unpack(data)
        n = tf.shape(real)[0]
        d_loss, logs = self._discriminator_loss(real, labels, self._random_latents(n), False)
        g_loss, g_logs = self._generator_loss(real, labels, self._random_latents(n), False)
        return self._report({"d_loss": d_loss, "g_loss": g_loss, **logs, **g_logs})

    # ------------------------------------------------------------ optimizers
    def make_optimizers(self, learning_rate=None):
        """One optimizer per player, with the paper's settings.

        Returns:
          {"d_optimizer": ..., "g_optimizer": ...} for `compile`.
        """
        lr, beta_1, beta_2 = self.adam
        return {name: keras.optimizers.Adam(learning_rate or lr, beta_1=beta_1,
                                            beta_2=beta_2)
                for name in ("d_optimizer", "g_optimizer")}

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Compiles with one optimizer per player (defaults: `make_optimizers()`).

        Both optimizers are built here, on their players' variables, and are
        attributes of the model, so `save_weights` (and therefore
        `keras.callbacks.BackupAndRestore`) and `.keras` files hold their
        iterations and slots. `model.optimizer` is the generator's, whose
        iterations count generator steps.

        Args:
          d_optimizer, g_optimizer: `keras.optimizers.Optimizer`s, names or
            configs.
          **kwargs: `keras.Model.compile` arguments such as `jit_compile`;
            `optimizer` and `loss` are not taken.
        """
        for key in ("optimizer", "loss"):
            if kwargs.get(key) is not None:
                raise ConfigError(
                    f"{type(self).__name__}.compile takes d_optimizer and "
                    f"g_optimizer (the losses are the model's own), not {key}=")
            kwargs.pop(key, None)
        defaults = self.make_optimizers()
        d_optimizer = keras.optimizers.get(d_optimizer) if d_optimizer is not None \
            else defaults["d_optimizer"]
        g_optimizer = keras.optimizers.get(g_optimizer) if g_optimizer is not None \
            else defaults["g_optimizer"]
        if d_optimizer is g_optimizer:
            raise ConfigError("d_optimizer and g_optimizer must be two optimizer objects")
        super().compile(optimizer=g_optimizer, **kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.d_variables)
        g_optimizer.build(self.g_variables)
        self._compile_config = serialization_lib.SerializableDict(
            d_optimizer=d_optimizer, g_optimizer=g_optimizer, **kwargs)

    def compile_from_config(self, config):
        """Recompiles a loaded `.keras` model with its saved optimizers."""
        self.compile(**serialization_lib.deserialize_keras_object(config))

    # ---------------------------------------------------------------- export
    def z_spec(self):
        return tf.TensorSpec((None, self.latent_dim), tf.float32, name="z")

    def serving_endpoints(self):
        """`serving_default` (seed [+ label]), `generate` (z [+ label]) ->
        {"images"} in [0, 1]; `discriminate` (images [+ label]) -> scores."""
        endpoints = super().serving_endpoints()
        if self.conditional:
            endpoints["generate"] = (
                lambda z, label: {"images": self._generate(z, self.check_labels(label))},
                [self.z_spec(), self.label_spec()])
        else:
            endpoints["generate"] = (lambda z: {"images": self._generate(z)},
                                     [self.z_spec()])
        if self.discriminator_takes_labels:
            endpoints["discriminate"] = (
                lambda images, label: self._discriminate(
                    self.check_images(images), self.check_labels(label)),
                [self.image_spec(), self.label_spec()])
        else:
            endpoints["discriminate"] = (
                lambda images: self._discriminate(self.check_images(images)),
                [self.image_spec()])
        return endpoints


def check_steps(name, value):
    """Validates a number of discriminator steps (k, n_critic)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer (discriminator "
                          f"updates per generator update), got {value!r}")
    return int(value)

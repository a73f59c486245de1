"""Shared machinery of the adversarial family: two players, two optimizers.

`GANBase.train_step` runs `d_steps` discriminator updates, each on a fresh
real minibatch, then one generator update (Algorithm 1 of [1], [3], [4]).
Each update runs both players forward once (`_forward`) and hands the
discriminator's outputs to pure loss functions of `zoo.losses`; a model
chooses those functions and adds terms (`_discriminator_terms`,
`_generator_terms`), it never writes a forward pass or an update.

Fresh real batches: with `d_steps = k > 1`, `fit` regroups its stream so
that one step receives k minibatches (k * batch_size rows, split into k
interleaved minibatches of batch_size rows). One epoch is then one pass of
the data through the discriminator: len(data) / k generator updates and
len(data) discriminator updates. `compile(real_batches="reuse")` keeps
one minibatch for all k updates instead (and one fit batch per step).

Images: the public API, the datasets (`preprocessing` "unit") and every
exported signature use [0, 1]; inside, both players work in [-1, 1] so the
generator can end in tanh ([2], sec. 3).

References:
  [1] Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
  [2] Radford, Metz, Chintala. Unsupervised Representation Learning with
      Deep Convolutional GANs. ICLR 2016.
  [3] Arjovsky, Chintala, Bottou. Wasserstein GAN. ICML 2017.
  [4] Gulrajani et al. Improved Training of Wasserstein GANs. NeurIPS 2017.
  [5] Yazici et al. The Unusual Effectiveness of Averaging in GAN
      Training. ICLR 2019 (exponential moving average of the generator).
"""

import types

import keras
import tensorflow as tf

from zoo import checks, losses
from zoo.base import GenerativeModel
from zoo.errors import ConfigError
from zoo.gan import batches, networks

REAL_BATCHES = ("fresh", "reuse")


def to_symmetric(images):
    """[0, 1] -> [-1, 1]."""
    return 2.0 * images - 1.0


def to_unit(images):
    """[-1, 1] -> [0, 1] (clipped: tanh may round to exactly +-1)."""
    return tf.clip_by_value(0.5 * (images + 1.0), 0.0, 1.0)


def adam_optimizers(learning_rate, beta_1, beta_2):
    """`optimizer_defaults` with one Adam of these settings per player."""
    settings = {"learning_rate": learning_rate, "beta_1": beta_1, "beta_2": beta_2}
    return {"d_optimizer": ("Adam", settings), "g_optimizer": ("Adam", settings)}


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
        average of the generator's weights [5], then used by `sample`,
        `generate` and every export.
      seed: seeds the noise of training.

    Class attributes a model sets:
      discriminator_loss, generator_loss: functions of `zoo.losses` on the
        discriminator's first output (real and fake scores -> [N]; fake
        scores -> [N]).
      score: what `d_real` / `d_fake` report of a score (D's probability
        for logit models).
      d_steps: discriminator updates per generator update (or an argument).
      discriminator_norm, discriminator_bias, spectral_norm,
      discriminator_takes_labels, discriminator_outputs: the discriminator.
    """

    hub_endpoint = "generate"
    metric_names = ("d_loss", "g_loss", "d_real", "d_fake")
    optimizer_defaults = adam_optimizers(2e-4, 0.5, 0.999)  # [2], sec. 4
    discriminator_loss = staticmethod(losses.gan_discriminator)
    generator_loss = staticmethod(losses.non_saturating_generator)
    score = staticmethod(tf.sigmoid)
    d_steps = 1
    discriminator_norm = "batch"
    discriminator_takes_labels = False
    discriminator_outputs = 1
    #: Whether the discriminator also returns its last hidden features
    #: (appended after the outputs), e.g. for VAE-GAN's feature loss.
    discriminator_features = False
    #: Minibatch-discrimination kernels before the discriminator's head (0: none).
    minibatch_kernels = 0
    #: Whether the generator's loss reads D's output on real data too
    #: (BiGAN's encoder, feature matching, VAE-GAN's feature target).
    generator_reads_real = False
    #: Whether the discriminator's head has a bias (a critic's loss ignores it).
    discriminator_bias = True
    spectral_norm = False
    #: BatchNorm statistics over the global batch under `tf.distribute`
    #: (default), or per replica (False).
    sync_batchnorm = True
    #: Name of the discriminator output in `discriminate`.
    score_name = "logits"

    def __init__(self, image_shape, latent_dim, architecture="mlp",
                 hidden_units=(256, 256), filters=(64, 128), ema_decay=None, seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        self.architecture = checks.choice("architecture", architecture,
                                          networks.ARCHITECTURES)
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units)
        self.filters = checks.positive_ints("filters", filters)
        self.ema_decay = checks.optional(checks.open_unit_float, "ema_decay", ema_decay)
        self.real_batches = "fresh"

    def _after_init(self):
        """Builds the players (and the EMA copy) once every attribute is set."""
        self.generator = self._build_generator("generator")
        self.discriminator = self._build_discriminator()
        if self.ema_decay is not None:
            self.ema_generator = self._build_generator("ema_generator")
            self.ema_generator.trainable = False
            for ema, w in zip(self.ema_generator.weights, self.generator.weights):
                ema.assign(w)
        self.built = True
        super()._after_init()

    def _build_generator(self, name):
        classes = self.num_classes if self.conditional else None
        if self.architecture == "mlp":
            return networks.mlp_generator(self.latent_dim, self.image_shape,
                                          self.hidden_units, classes, name=name)
        return networks.conv_generator(self.latent_dim, self.image_shape, self.filters,
                                       classes, self.sync_batchnorm, name=name)

    def _build_discriminator(self):
        classes = self.num_classes if self.discriminator_takes_labels else None
        options = dict(outputs=self.discriminator_outputs, num_classes=classes,
                       normalization=self.discriminator_norm,
                       output_bias=self.discriminator_bias,
                       spectral_norm=self.spectral_norm,
                       sync_batchnorm=self.sync_batchnorm,
                       with_features=self.discriminator_features,
                       minibatch_kernels=self.minibatch_kernels)
        if self.architecture == "mlp":
            return networks.mlp_discriminator(
                self.image_shape, tuple(reversed(self.hidden_units)), **options)
        return networks.conv_discriminator(self.image_shape, self.filters, **options)

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
        """Training noise z [n, latent_dim] (see `training_noise`)."""
        return self.training_noise(self._draw_latents, n)

    def _draw_latents(self, n, seed):
        """n codes [n, latent_dim] from one stateless seed."""
        return tf.random.stateless_normal([n, self.latent_dim], seed=seed)

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

    def generate(self, z, labels=None):
        """Images [N, H, W, C] in [0, 1] from codes z [N, latent_dim] (+ labels [N])."""
        z = self.check_codes(z)
        return self._generate(z, self.labels_arg(labels, z.shape[0]))

    def discriminate(self, images, labels=None):
        """The discriminator's outputs for images [N, H, W, C] in [0, 1]: a dict
        of [N] (or [N, K]) tensors, e.g. {"logits"} or {"critic"}."""
        images = self.check_images(images)
        labels = self.labels_arg(labels, images.shape[0], self.discriminator_takes_labels)
        return self._discriminate(images, labels)

    def _discriminate(self, images, labels=None):
        return {self.score_name: self._d(to_symmetric(images), labels)[:, 0]}

    def call(self, inputs, training=False):
        return self._generate(inputs)

    # -------------------------------------------------------------- training
    def _discriminator_inputs(self, real, labels, z, training):
        """(what D sees as real, what D sees as fake): data and G(z) here;
        the AAE's discriminator sees prior draws and codes instead."""
        return real, self._g(z, labels, training=training)

    def _forward(self, real, labels, training, with_real=True):
        """Both players once, for one update: a namespace of real (the data
        batch in [-1, 1]), labels, z, real_input / fake_input (what D saw)
        and real_out / fake_out (D's raw outputs; real_out None when not
        needed)."""
        z = self._random_latents(tf.shape(real)[0])
        real_input, fake_input = self._discriminator_inputs(real, labels, z, training)
        return types.SimpleNamespace(
            real=real, labels=labels, z=z, training=training,
            real_input=real_input, fake_input=fake_input,
            real_out=self._d(real_input, labels, training) if with_real else None,
            fake_out=self._d(fake_input, labels, training))

    def _discriminator_terms(self, p):
        """{"d_loss", "d_real", "d_fake", ...}: per-example values [N] of one
        forward pass `p`; models extend it with their own terms."""
        real, fake = p.real_out[:, 0], p.fake_out[:, 0]
        return {"d_loss": self.discriminator_loss(real, fake),
                "d_real": self.score(real), "d_fake": self.score(fake)}

    def _generator_terms(self, p):
        """{"g_loss", ...}: per-example values [N] of one forward pass `p`."""
        return {"g_loss": self.generator_loss(p.fake_out[:, 0])}

    def _after_d_step(self):
        """Runs after every discriminator update (WGAN clips weights here)."""

    def d_step(self, real, labels=None):
        """One discriminator update on real images in [-1, 1]; returns its
        per-example terms."""
        with tf.GradientTape() as tape:
            terms = self._float32(self._discriminator_terms(
                self._forward(real, labels, training=True)))
            scaled = self.d_optimizer.scale_loss(self.objective(terms["d_loss"]))
        self.minimize(self.d_optimizer, scaled, self.d_variables, tape)
        self._after_d_step()
        return terms

    def g_step(self, real, labels=None):
        """One generator update (the discriminator is only read); returns its
        per-example terms."""
        with tf.GradientTape() as tape:
            terms = self._float32(self._generator_terms(
                self._forward(real, labels, training=True,
                              with_real=self.generator_reads_real)))
            scaled = self.g_optimizer.scale_loss(self.objective(terms["g_loss"]))
        self.minimize(self.g_optimizer, scaled, self.g_variables, tape)
        self._update_ema()
        return terms

    @staticmethod
    def _float32(terms):
        return {name: tf.cast(value, tf.float32) for name, value in terms.items()}

    def _update_ema(self):
        if self.ema_decay is None:
            return
        d = self.ema_decay
        for ema, w in zip(self.ema_generator.weights, self.generator.weights):
            ema.assign(d * ema + (1.0 - d) * w)

    def _critic_batches(self, real, labels):
        """The d_steps (real, labels) minibatches of one step (see the module doc)."""
        if not self.requires_full_batches:
            return [(real, labels)] * self.d_steps
        return batches.split(real, labels, self.d_steps)

    def train_step(self, data):
        images, labels = self.unpack_batch(data)
        # The discriminator's metrics average over all of its d_steps updates.
        for real, real_labels in self._critic_batches(to_symmetric(images), labels):
            self.report(self.d_step(real, real_labels))
        return self.report(self.g_step(real, real_labels))

    def test_step(self, data):
        images, labels = self.unpack_batch(data)
        p = self._forward(to_symmetric(images), labels, training=False)
        return self.report(self._float32({**self._discriminator_terms(p),
                                          **self._generator_terms(p)}))

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.fit`; with d_steps > 1 and fresh real batches, each
        step takes d_steps minibatches of `batch_size` (see the module doc).

        Args:
          x: a `tf.data.Dataset` of batches, or arrays of images (with `y`
            labels) batched by `batch_size` (default 32).
        """
        if self.requires_full_batches:
            x, y, batch_size = batches.grouped(x, y, batch_size, kwargs.get("shuffle", True),
                                               self.d_steps, self.registered_name), None, None
        return super().fit(x, y, batch_size=batch_size, **kwargs)

    @property
    def requires_full_batches(self):
        """True with several discriminator updates on fresh real batches."""
        return self.d_steps > 1 and self.real_batches == "fresh"

    # ------------------------------------------------------------ optimizers
    def compile(self, d_optimizer=None, g_optimizer=None, real_batches="fresh", **kwargs):
        """Compiles with one optimizer per player (defaults: `make_optimizers()`).

        Both optimizers are built here, on their players' variables, and are
        attributes of the model, so `save_weights` (and therefore
        `keras.callbacks.BackupAndRestore`) and `.keras` files hold their
        iterations and slots. `model.optimizer` is the generator's, whose
        iterations count generator steps.

        Args:
          d_optimizer, g_optimizer: `keras.optimizers.Optimizer`s, names or
            configs.
          real_batches: "fresh" (a new real minibatch for each discriminator
            update, Algorithm 1 of [1]) or "reuse" (one for all d_steps).
          **kwargs: `keras.Model.compile` arguments such as `jit_compile`;
            `optimizer` and `loss` are not taken.
        """
        for key in ("optimizer", "loss"):
            if kwargs.get(key) is not None:
                raise ConfigError(
                    f"{type(self).__name__}.compile takes d_optimizer and "
                    f"g_optimizer (the losses are the model's own), not {key}=")
            kwargs.pop(key, None)
        self.real_batches = checks.choice("real_batches", real_batches, REAL_BATCHES)
        defaults = self.make_optimizers()
        d_optimizer = defaults["d_optimizer"] if d_optimizer is None \
            else keras.optimizers.get(d_optimizer)
        g_optimizer = defaults["g_optimizer"] if g_optimizer is None \
            else keras.optimizers.get(g_optimizer)
        if d_optimizer is g_optimizer:
            raise ConfigError("d_optimizer and g_optimizer must be two optimizer objects")
        if self.dtype_policy.name == "mixed_float16":
            # Keras wraps only `self.optimizer`; each player needs its own
            # dynamic loss scale, and skips its own non-finite steps.
            d_optimizer, g_optimizer = (
                o if isinstance(o, keras.optimizers.LossScaleOptimizer)
                else keras.optimizers.LossScaleOptimizer(o) for o in (d_optimizer, g_optimizer))
        super().compile(optimizer=g_optimizer, **kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.d_variables)
        g_optimizer.build(self.g_variables)
        self._gan_compile_kwargs = dict(kwargs, real_batches=self.real_batches)

    def get_compile_config(self):
        """Both optimizers and the compile options, for `.keras` files."""
        if not getattr(self, "_gan_compile_kwargs", None):
            return None
        return {"d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
                **self._gan_compile_kwargs}

    def compile_from_config(self, config):
        """Recompiles a loaded `.keras` model with its saved optimizers."""
        config = dict(config)
        for key in ("d_optimizer", "g_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        """`serving_default` (seed [+ label]), `generate` (z [+ label]) ->
        {"images"} in [0, 1]; `discriminate` (images [+ label]) -> scores."""
        endpoints = super().serving_endpoints()
        endpoints["generate"] = self.endpoint(
            lambda z, labels=None: {"images": self._generate(z, labels)}, self.z_spec())
        endpoints["discriminate"] = self.endpoint(
            lambda images, labels=None: self._discriminate(self.check_images(images), labels),
            self.image_spec(), labels=self.discriminator_takes_labels)
        return endpoints

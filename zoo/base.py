"""The surface every zoo model shares.

`GenerativeModel` is a `keras.Model` whose public methods (`sample`,
`sample_from_seeds`, `encode`, `decode`, `reconstruct`, `log_prob`) check
their input and call small private hooks (`_sample`, `_encode`, ...) that a
family implements. A family that lacks a capability (a GAN has no encoder)
simply leaves the hook out and the public method raises a clear
`NotImplementedError`; `model.capabilities` lists what is there.

It also owns what every family would otherwise write again:

- the config: the constructor arguments, defaults applied, are recorded
  when the outermost `__init__` returns, and `get_config` returns them;
- the single-optimizer training step: a family returns per-example loss
  terms from `loss_terms`; the base unpacks the batch, reduces the terms,
  runs the tape and the optimizer and reports every term to a tracker of
  the same name (`metric_names`);
- the optimizers' defaults (`optimizer_defaults`, one entry per player);
- the serving endpoints' conventions (`seed`, `images`, `z`, `label`;
  `zoo.endpoints`, mixed in).
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.endpoints import ServingEndpoints
from zoo.errors import InputError
from zoo.layers.sampling import per_row_seeds, replica_rows, tfp_seed
from zoo.registry import recording_init

CAPABILITIES = ("sample", "encode", "decode", "reconstruct", "log_prob")


def _multi_worker():
    """True inside a `MultiWorkerMirroredStrategy` with a real cluster."""
    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = strategy.cluster_resolver
    return resolver is not None and bool(resolver.cluster_spec().as_dict())


class GenerativeModel(ServingEndpoints, keras.Model):
    """Base class of every zoo model.

    Args:
      image_shape: (H, W, C) of the images the model works on.
      seed: int or None; seeds the `keras.random.SeedGenerator` that drives
        training-time randomness, so two runs with the same seed and data
        order give the same weights (with the same `jit_compile` setting:
        XLA's stateless RNG draws other numbers for the same seed).
    """

    #: Set by `zoo.register`.
    registered_name = None
    #: The endpoint that the exported `__call__` aliases, for `hub.load`.
    hub_endpoint = "serving_default"
    #: True where `sample` returns the means of p(x|z) and `draw=True`
    #: gives draws from it (VAEs); other models' samples are draws already.
    samples_are_means = False
    #: `compile` keyword -> (Keras optimizer class name, its arguments);
    #: `make_optimizers` builds one per entry (GANs have one per player).
    optimizer_defaults = {"optimizer": ("Adam", {"learning_rate": 1e-3})}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_records_config", False):
            cls.__init__ = recording_init(init)

    def __init__(self, image_shape, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = checks.image_shape(image_shape)
        self.seed = checks.seed_value("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ---------------------------------------------------------------- config
    def get_config(self):
        """The constructor arguments, defaults applied (recorded at construction)."""
        return {"name": self.name, **self._constructor_config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        config.pop("dtype", None)
        return cls(**config)

    # --------------------------------------------------------------- surface
    @property
    def capabilities(self):
        """The public methods this model implements, e.g. ("sample", "encode")."""
        return tuple(c for c in CAPABILITIES
                     if getattr(type(self), f"_{c}") is not
                     getattr(GenerativeModel, f"_{c}"))

    @property
    def num_dims(self):
        """Number of scalar dimensions of one image, H * W * C."""
        return int(np.prod(self.image_shape))

    def preprocessing(self, training=True):
        """The `training.datasets` mode this model's data should be in.

        Args:
          training: True for the training stream, False for evaluation
            (where randomness such as dynamic binarization must be fixed).
        """
        del training
        return "unit"

    @property
    def conditional(self):
        """True for class-conditional models (they set `num_classes`)."""
        return bool(getattr(self, "num_classes", None))

    @property
    def requires_full_batches(self):
        """True when every `fit` batch must have the same size (batch the
        dataset with drop_remainder=True); GANs with several
        discriminator updates per step need it."""
        return False

    @property
    def requires_labels(self):
        """True when `fit` batches must be (images, labels)."""
        return self.conditional

    def sample(self, num_samples, seed=None, labels=None, draw=False):
        """Draws `num_samples` images.

        Args:
          num_samples: positive int N.
          seed: int; the same seed gives the same images. Row i uses seed
            row [seed, i], so it equals `sample_from_seeds([[seed, i]])`.
          labels: int [N] class labels, for class-conditional models only;
            default: 0, 1, ..., num_classes - 1, 0, 1, ... (a grid per class).
          draw: for models whose samples are the means of p(x|z)
            (`samples_are_means`), True returns draws from p(x|z) instead
            (same z); other models ignore it.

        Returns:
          float32 Tensor [N, H, W, C] in [0, 1].
        """
        if labels is None and self.conditional:
            labels = np.arange(num_samples) % self.num_classes
        return self.sample_from_seeds(per_row_seeds(num_samples, seed), labels, draw)

    def sample_from_seeds(self, seeds, labels=None, draw=False):
        """One image per seed row, independent of the rest of the batch.

        Args:
          seeds: int32 [N, 2].
          labels: int32 [N] class labels; required by, and only accepted
            by, class-conditional models.
          draw: see `sample`.

        Returns:
          float32 Tensor [N, H, W, C] in [0, 1].
        """
        seeds = checks.seeds(seeds)
        labels = self.labels_arg(labels, seeds.shape[0])
        outputs = self._sample_outputs(seeds, labels)
        return outputs["draws" if draw and self.samples_are_means else "images"]

    def training_noise(self, draw, rows):
        """Training-time randomness for `rows` rows of this replica's batch:
        `draw(n, seed)` (stateless) with the next seed of `seed_generator`,
        batch- and replica-invariant (`zoo.layers.sampling.replica_rows`)."""
        return replica_rows(draw, rows, tfp_seed(self.seed_generator))

    def labels_arg(self, labels, num_rows=None, needed=None):
        """Checked labels for a call that takes them, or None.

        Args:
          labels: int [N] or None.
          num_rows: N, when known.
          needed: whether this call takes labels (default: `conditional`).
        """
        needed = self.conditional if needed is None else needed
        if not needed:
            if labels is not None:
                raise InputError(f"model {self.registered_name!r} is not "
                                 "class-conditional here; do not pass labels")
            return None
        if labels is None:
            raise InputError(f"model {self.registered_name!r} is class-conditional: "
                             f"pass labels in [0, {self.num_classes})")
        return self.check_labels(labels, num_rows)

    def check_labels(self, labels, num_rows=None):
        """int32 [N] in [0, num_classes) (checked in Python and in the graph)."""
        return checks.labels(labels, self.num_classes, num_rows)

    def encode(self, images):
        """Maps images [N, H, W, C] to codes (a distribution for latent-variable models)."""
        return self._encode(self.check_images(images))

    def decode(self, z):
        """Maps codes z [N, latent_dim] to images [N, H, W, C] in [0, 1]."""
        return self._decode(self.check_codes(z))

    def reconstruct(self, images):
        """Encodes and decodes images [N, H, W, C]; returns the same shape."""
        return self._reconstruct(self.check_images(images))

    def log_prob(self, images, **kwargs):
        """log p(images) in nats, shape [N] (exact or estimated; see the family)."""
        return self._log_prob(self.check_images(images), **kwargs)

    def _missing(self, what):
        raise NotImplementedError(
            f"model {self.registered_name or type(self).__name__!r} has no "
            f"{what}; it offers: {', '.join(self.capabilities)}")

    def _sample(self, seeds, labels=None):
        self._missing("sample")

    def _sample_outputs(self, seeds, labels=None):
        """{"images": ...} (plus "draws" where samples are means) for seed rows."""
        images = self._sample(seeds) if labels is None else self._sample(seeds, labels)
        return {"images": images}

    def _encode(self, images):
        self._missing("encode")

    def _decode(self, z):
        self._missing("decode")

    def _reconstruct(self, images):
        self._missing("reconstruct")

    def _log_prob(self, images, **kwargs):
        self._missing("log_prob")

    def figures(self, images, seed=0):
        """Image grids that show what the model does, for the trainer to save.

        The trainer writes each as figures/NAME.png after training; families
        override this (e.g. reconstructions, denoising) instead of the
        trainer knowing about them.

        Args:
          images: float [N, H, W, C] test images in [0, 1].
          seed: int for any randomness the figures need.

        Returns:
          {name: (images [M, H, W, C] in [0, 1], num_cols)}; none by default.
        """
        del images, seed
        return {}

    # ------------------------------------------------------------ validation
    def check_images(self, images):
        """float32 [N, H, W, C] in [0, 1] (see `zoo.checks.images`)."""
        return checks.images(images, self.image_shape)

    def check_codes(self, z):
        """float32 [N, latent_dim]."""
        return checks.codes(z, getattr(self, "latent_dim", None))

    # -------------------------------------------------------------- training
    #: Names of the values `loss_terms` returns; one tracker each.
    metric_names = ("loss",)

    def _after_init(self):
        """Runs once the outermost constructor returns (see `recording_init`)."""
        self._make_trackers()

    def _make_trackers(self):
        self._trackers = [keras.metrics.Mean(name=n) for n in self.metric_names]

    @property
    def metrics(self):
        return list(getattr(self, "_trackers", ()))

    def make_optimizers(self, learning_rate=None):
        """`compile` keyword arguments with this family's optimizers.

        The trainer calls `model.compile(**model.make_optimizers(lr))`.

        Args:
          learning_rate: replaces every default learning rate when given.
        """
        optimizers = {}
        for key, (class_name, kwargs) in self.optimizer_defaults.items():
            kwargs = dict(kwargs)
            if learning_rate:
                kwargs["learning_rate"] = learning_rate
            optimizers[key] = getattr(keras.optimizers, class_name)(**kwargs)
        return optimizers

    @staticmethod
    def images_from_batch(data):
        """The images of a `fit` batch that may carry labels."""
        return data[0] if isinstance(data, (tuple, list)) else data

    def unpack_batch(self, data):
        """(float32 images, int32 labels [N] or None) from a `fit` batch.

        Batches are `images` or `(images, labels)`; labels are kept only
        by models that use them, and required by those that need them.
        """
        images = tf.cast(self.images_from_batch(data), tf.float32)
        labels = data[1] if isinstance(data, (tuple, list)) and len(data) > 1 else None
        if not self.requires_labels:
            return images, None
        if labels is None:
            raise InputError(
                f"model {self.registered_name!r} is class-conditional: its "
                "dataset must yield (images, labels) batches, e.g. "
                "training.datasets.load(..., labels=True) on a labelled dataset")
        return images, self.check_labels(labels)

    def loss_terms(self, images, labels, training):
        """The family's loss: {name: per-example values [N]}, with "loss".

        Args:
          images: float32 [N, H, W, C] as `preprocessing(training)` gives them.
          labels: int32 [N] for models that `requires_labels`, else None.
          training: bool.

        Returns:
          dict of [N] tensors (a scalar is taken as a batch statistic);
          every key must be in `metric_names`. "loss" is minimized.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no loss_terms")

    @staticmethod
    def objective(values):
        """The one place a loss becomes what one replica differentiates.

        Keras sums gradients across replicas, so a per-example loss [N] is
        summed and divided by the *global* batch size (N times the number of
        replicas; the mean on one replica), and a scalar (a batch statistic
        or a layer loss) is divided by the number of replicas.
        """
        values = tf.cast(values, tf.float32)
        if values.shape.rank == 0:
            return tf.nn.scale_regularization_loss(values)
        return tf.nn.compute_average_loss(values)

    def batch_losses(self, images, labels, training):
        """`loss_terms` in float32 with the layer losses added to "loss"."""
        terms = {k: tf.cast(v, tf.float32)
                 for k, v in self.loss_terms(images, labels, training).items()}
        if self.losses:
            terms["loss"] = terms["loss"] + tf.cast(tf.add_n(self.losses), tf.float32)
        return terms

    def report(self, values):
        """Updates the tracker of each named value; returns every tracker's result.

        Values are per example ([N]) where they can be, so a `Mean` tracker
        gives the mean over the global batch on any number of replicas.
        """
        names = {m.name for m in self.metrics}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__} reports {unknown} without a "
                             f"tracker; add them to metric_names ({sorted(names)})")
        for tracker in self.metrics:
            if tracker.name in values:
                tracker.update_state(values[tracker.name])
        results = {m.name: m.result() for m in self.metrics}
        if _multi_worker():
            # Keras 3.15 reduces multi-worker logs with reduce(MEAN, axis=0),
            # which fails on scalars; a [1] vector reduces to the scalar.
            results = {k: tf.reshape(v, [1]) for k, v in results.items()}
        return results

    def minimize(self, optimizer, scaled_loss, variables, tape):
        """One gradient step of `optimizer` on `scaled_loss`, which is
        `optimizer.scale_loss(objective)` computed under `tape` (a
        `LossScaleOptimizer` unscales, and skips non-finite steps)."""
        optimizer.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))

    def train_step(self, data):
        images, labels = self.unpack_batch(data)
        with tf.GradientTape() as tape:
            terms = self.batch_losses(images, labels, training=True)
            scaled = self.optimizer.scale_loss(self.objective(terms["loss"]))
        self.minimize(self.optimizer, scaled, self.trainable_variables, tape)
        self._after_update()
        return self.report(terms)

    def _after_update(self):
        """Runs after each optimizer update of `train_step` (diffusion: the
        EMA of the weights); nothing by default."""

    def test_step(self, data):
        images, labels = self.unpack_batch(data)
        return self.report(self.batch_losses(images, labels, training=False))

"""The surface every zoo model shares.

`GenerativeModel` is a `keras.Model` whose public methods (`sample`,
`sample_from_seeds`, `encode`, `decode`, `reconstruct`, `log_prob`) check
their input and call small private hooks (`_sample`, `_encode`, ...) that a
family implements. A family that lacks a capability (a GAN has no encoder)
simply leaves the hook out and the public method raises a clear
`NotImplementedError`; `model.capabilities` lists what is there.

`serving_endpoints()` describes the SavedModel signatures the exporter
writes: named `tf.TensorSpec` inputs, dict outputs, batch-major.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo.errors import ConfigError, InputError
from zoo.layers.sampling import check_seeds, per_row_seeds

CAPABILITIES = ("sample", "encode", "decode", "reconstruct", "log_prob")


def check_image_shape(image_shape):
    """Validates and returns `image_shape` as a tuple (H, W, C)."""
    try:
        shape = tuple(int(d) for d in image_shape)
    except (TypeError, ValueError):
        raise ConfigError(
            f"image_shape must be (height, width, channels), got "
            f"{image_shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(
            f"image_shape must be three positive ints (height, width, "
            f"channels), got {image_shape!r}")
    return shape


def positive_int(name, value):
    """Validates a positive integer constructor argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_ints(name, values):
    """Validates a non-empty sequence of positive ints; returns a tuple."""
    if isinstance(values, (int, np.integer)):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        raise ConfigError(
            f"{name} must be a sequence of positive integers, got "
            f"{values!r}") from None
    if not values:
        raise ConfigError(f"{name} must not be empty")
    return tuple(positive_int(name, v) for v in values)


class GenerativeModel(keras.Model):
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

    def __init__(self, image_shape, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = check_image_shape(image_shape)
        if seed is not None and (isinstance(seed, bool) or not isinstance(
                seed, (int, np.integer)) or seed < 0):
            raise ConfigError(
                f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ---------------------------------------------------------------- config
    def get_config(self):
        return {"name": self.name, "image_shape": self.image_shape,
                "seed": self.seed}

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

    def sample(self, num_samples, seed=None, labels=None):
        """Draws `num_samples` images.

        Args:
          num_samples: positive int N.
          seed: int; the same seed gives the same images. Row i uses seed
            row [seed, i], so it equals `sample_from_seeds([[seed, i]])`.
          labels: int [N] class labels, for class-conditional models only;
            default: 0, 1, ..., num_classes - 1, 0, 1, ... (a grid per class).

        Returns:
          float32 Tensor [N, H, W, C] in [0, 1].
        """
        if labels is None and self.conditional:
            labels = np.arange(num_samples) % self.num_classes
        return self.sample_from_seeds(per_row_seeds(num_samples, seed), labels)

    def sample_from_seeds(self, seeds, labels=None):
        """One image per seed row, independent of the rest of the batch.

        Args:
          seeds: int32 [N, 2].
          labels: int32 [N] class labels; required by, and only accepted
            by, class-conditional models.

        Returns:
          float32 Tensor [N, H, W, C] in [0, 1].
        """
        seeds = check_seeds(seeds)
        if not self.conditional:
            if labels is not None:
                raise InputError(
                    f"model {self.registered_name!r} is not class-conditional; "
                    "do not pass labels")
            return self._sample(seeds)
        if labels is None:
            raise InputError(f"model {self.registered_name!r} is class-conditional: "
                             f"pass labels in [0, {self.num_classes})")
        return self._sample(seeds, self.check_labels(labels, seeds.shape[0]))

    def check_labels(self, labels, num_rows=None):
        """Converts labels to int32 [N] and checks they lie in [0, num_classes)."""
        if isinstance(labels, (np.ndarray, list, tuple)):
            labels = np.asarray(labels)
            if labels.dtype.kind not in "iu":
                raise InputError(f"labels must be integers, got dtype {labels.dtype}")
            if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise InputError(f"labels must lie in [0, {self.num_classes}), got "
                                 f"values from {labels.min()} to {labels.max()}")
        labels = tf.convert_to_tensor(labels)
        if not labels.dtype.is_integer or labels.shape.rank != 1:
            raise InputError(f"labels must be int [N], got {labels.dtype.name} "
                             f"{list(labels.shape)}")
        if num_rows is not None and labels.shape[0] not in (None, num_rows):
            raise InputError(f"got {labels.shape[0]} labels for {num_rows} samples")
        labels = tf.cast(labels, tf.int32)
        # In graphs (exported signatures) the range check runs with the data.
        with tf.control_dependencies([
                tf.debugging.assert_non_negative(labels, message="labels must be >= 0"),
                tf.debugging.assert_less(labels, self.num_classes,
                                         message="labels must be < num_classes")]):
            return tf.identity(labels)

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

    def _sample(self, seeds):
        self._missing("sample")

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
        """Converts `images` to float32 [N, H, W, C] with values in [0, 1].

        Raises `InputError` for a wrong rank, shape or dtype; values outside
        [0, 1] fail with `tf.errors.InvalidArgumentError` (also inside
        exported signatures, where the check is part of the graph).
        """
        if isinstance(images, np.ndarray) and images.dtype.kind not in "f":
            raise InputError(
                f"images must be floats in [0, 1], got dtype {images.dtype}")
        images = tf.convert_to_tensor(images)
        if not images.dtype.is_floating:
            raise InputError(f"images must be floats in [0, 1], got dtype "
                             f"{images.dtype.name}")
        expected = (None,) + self.image_shape
        shape = tuple(images.shape) if images.shape.rank is not None else None
        if shape is None or len(shape) != 4 or any(
                s is not None and s != e for s, e in zip(shape[1:], expected[1:])):
            raise InputError(
                f"images must have shape [N, {', '.join(map(str, self.image_shape))}]"
                f" for this model, got {list(shape) if shape else 'unknown rank'}")
        images = tf.cast(images, tf.float32)
        shape_text = ", ".join(map(str, self.image_shape))
        with tf.control_dependencies([
                # A SavedModel signature does not enforce its TensorSpec's
                # shape at call time, so the shape is checked with the data.
                tf.debugging.assert_equal(
                    tf.shape(images)[1:], tf.constant(self.image_shape, tf.int32),
                    message=f"images must have shape [N, {shape_text}]"),
                tf.debugging.assert_greater_equal(
                    images, 0.0, message="images must be in [0, 1]"),
                tf.debugging.assert_less_equal(
                    images, 1.0, message="images must be in [0, 1]")]):
            return tf.identity(images)

    def check_codes(self, z):
        """Converts `z` to float32 [N, latent_dim]."""
        z = tf.convert_to_tensor(z)
        if not z.dtype.is_floating:
            raise InputError(f"codes must be floats, got dtype {z.dtype.name}")
        dim = getattr(self, "latent_dim", None)
        if z.shape.rank != 2 or (dim is not None and z.shape[-1] not in (None, dim)):
            raise InputError(
                f"codes must have shape [N, {dim}], got {list(z.shape)}")
        return tf.cast(z, tf.float32)

    # --------------------------------------------------------------- training
    #: Adam's learning rate when none is given (`make_optimizers`).
    default_learning_rate = 1e-3

    def make_optimizers(self, learning_rate=None):
        """`compile` keyword arguments with this family's optimizers.

        The trainer calls `model.compile(**model.make_optimizers(lr))`;
        families with several players (GANs) return one optimizer each.
        """
        return {"optimizer": keras.optimizers.Adam(
            learning_rate or self.default_learning_rate)}

    @staticmethod
    def images_from_batch(data):
        """The images of a `fit` batch that may carry labels."""
        return data[0] if isinstance(data, (tuple, list)) else data

    # ---------------------------------------------------------------- export
    def image_spec(self, name="images"):
        return tf.TensorSpec((None,) + self.image_shape, tf.float32, name=name)

    @staticmethod
    def seed_spec():
        return tf.TensorSpec((None, 2), tf.int32, name="seed")

    @staticmethod
    def label_spec():
        return tf.TensorSpec((None,), tf.int32, name="label")

    def serving_endpoints(self):
        """The SavedModel signatures: {name: (fn, [tf.TensorSpec, ...])}.

        Each fn takes the named tensors positionally and returns a dict of
        batch-major tensors. `serving_default` samples from seeds (and
        labels, for class-conditional models) when the family can sample;
        families add their own endpoints. Input names follow one convention
        across the zoo: `seed`, `images`, `z`, `label`.
        """
        endpoints = {}
        if "sample" in self.capabilities:
            if self.conditional:
                endpoints["serving_default"] = (
                    lambda seed, label: {"images": self._sample(
                        seed, self.check_labels(label))},
                    [self.seed_spec(), self.label_spec()])
            else:
                endpoints["serving_default"] = (
                    lambda seed: {"images": self._sample(seed)}, [self.seed_spec()])
        return endpoints

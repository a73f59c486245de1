"""What diffusion and flow-matching models share: the U-Net, its EMA copy,
class conditioning with classifier-free guidance and per-row sampling noise
(the serving signatures are in `zoo.diffusion.signatures`).

A family member supplies the noise process (`zoo.diffusion.process`), its
training target (`_training_pair`), its samplers (`_generate`) and its
deterministic encoder/decoder (`_to_noise`, `_from_noise`); the base turns
seed rows into noise, runs the network (EMA weights for sampling, encoding
and export), mixes conditional and unconditional predictions, and builds
the training step around the shared `GenerativeModel` one.

Randomness. Sampling from seed row s draws a table of per-step seeds from s
alone (`row_noise`), so row i of a batch equals the same request alone, on
any number of replicas. Training draws t, the noise and the label dropout
for the whole global batch from the model's seed generator
(`training_noise`); evaluation losses use a fixed seed, so they compare
across epochs.

Guidance. With scale s per row, the prediction is
out_u + s (out_c - out_u) ([1] eq. 6 with s = 1 + w): s = 0 is the
unconditional model (the null label), s = 1 the conditional one.

References:
  [1] Ho, Salimans. Classifier-Free Diffusion Guidance. NeurIPS 2021
      workshop, arXiv:2207.12598.
  [2] Ho, Jain, Abbeel. Denoising Diffusion Probabilistic Models. NeurIPS 2020.
  [3] Song, Meng, Ermon. Denoising Diffusion Implicit Models. ICLR 2021.
"""

import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.diffusion.signatures import DiffusionEndpoints
from zoo.errors import InputError
from zoo.layers.sampling import per_row_seeds, replica_rows
from zoo.layers.unet import unet

# The seed of evaluation-time noise (test losses compare across epochs).
_EVAL_SEED = (0, 2**31 - 2)


def row_noise(seeds, num_steps, shape):
    """Per-row noise for a sampler: (x_T [N, *shape], noise(k) -> [N, *shape]).

    Row i's draws depend on seed row i alone: a table of `num_steps` + 1
    stateless seeds is drawn from it, entry 0 for the start and entry k + 1
    for step k.
    """
    table = tf.map_fn(
        lambda s: tf.random.stateless_uniform([num_steps + 1, 2], seed=s, minval=None,
                                              maxval=None, dtype=tf.int32),
        seeds, fn_output_signature=tf.int32)

    def normal(column):
        return tf.map_fn(lambda s: tf.random.stateless_normal(shape, seed=s),
                         column, fn_output_signature=tf.float32)

    return normal(table[:, 0]), lambda k: normal(tf.gather(table, k + 1, axis=1))


def to_model_space(images):
    """[0, 1] images -> [-1, 1] data."""
    return 2.0 * images - 1.0


def to_images(x):
    """[-1, 1] data -> [0, 1] images, clipped."""
    return tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0)


class DiffusionModel(DiffusionEndpoints, GenerativeModel):
    """Base of `ddpm` and `flow_matching`.

    Args:
      image_shape: (H, W, C).
      widths: U-Net channels per resolution level (`zoo.layers.unet`).
      blocks_per_level: residual blocks per level.
      attention_levels: levels (indices into `widths`) with self-attention.
      dropout: dropout inside the residual blocks.
      num_classes: None, or K for a class-conditional model trained with
        label dropout, sampled with classifier-free guidance ([1]).
      label_dropout: probability that a training label is replaced by the
        null label ([1]: 0.1-0.2), in [0, 1).
      ema_decay: None, or the decay in (0, 1) of the exponential moving
        average of the weights used to sample, encode, score and export;
        the effective decay min(decay, (1 + n) / (10 + n)) after n steps
        lets short runs use it too.
      seed: seeds training-time randomness.
    """

    optimizer_defaults = {"optimizer": ("Adam", {"learning_rate": 2e-4})}
    metric_names = ("loss",)
    #: Codes are x_T, white noise the size of the image: interpolations between
    #: them are meaningful ([3] sec. 5.3), a 2-D grid through them is not.
    latent_manifold = False

    def __init__(self, image_shape, widths=(32, 64), blocks_per_level=1,
                 attention_levels=(1,), dropout=0.0, num_classes=None, label_dropout=0.1,
                 ema_decay=0.9999, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.widths = checks.positive_ints("widths", widths)
        self.blocks_per_level = checks.positive_int("blocks_per_level", blocks_per_level)
        levels = (attention_levels,) if isinstance(attention_levels, int) else \
            tuple(attention_levels or ())
        self.attention_levels = tuple(
            checks.int_in_range("attention_levels", a, 0, len(self.widths) - 1) for a in levels)
        self.dropout = checks.number("dropout", dropout, 0.0, 1.0, high_open=True)
        self.num_classes = checks.optional(checks.int_at_least, "num_classes", num_classes, 2)
        self.label_dropout = checks.number("label_dropout", label_dropout, 0.0, 1.0,
                                           high_open=True)
        self.ema_decay = checks.optional(checks.open_unit_float, "ema_decay", ema_decay)

    def _after_init(self):
        super()._after_init()
        self.network = self._build_network("unet")
        self.ema_network = None
        if self.ema_decay is not None:
            self.ema_network = self._build_network("ema_unet")
            self.ema_network.trainable = False
            for ema, w in zip(self.ema_network.weights, self.network.weights):
                ema.assign(w)
        self.built = True

    def _build_network(self, name):
        return unet(self.image_shape, self.widths, self.blocks_per_level,
                    self.attention_levels, self.num_classes, self.dropout, name=name)

    @property
    def latent_dim(self):
        """Width of the codes `encode` gives: x_T flattened, H * W * C."""
        return self.num_dims

    @property
    def sampling_network(self):
        """The network that samples, encodes, scores and is exported (EMA when on)."""
        return self.ema_network if self.ema_network is not None else self.network

    # ----------------------------------------------------------- predictions
    def _time_input(self, time):
        """The network's time input for the process' time (index or t)."""
        return tf.cast(time, tf.float32)

    def predictor(self, labels=None, guidance=None, network=None, training=False):
        """(x [N, H, W, C], time [N]) -> the network's output, with guidance.

        Args:
          labels: int32 [N] for conditional models; None uses the null
            label (the unconditional model).
          guidance: float32 [N] scales s ([1]); None is the plain
            prediction for `labels`.
          network: default `sampling_network`.
        """
        network = network or self.sampling_network

        def run(x, time, lab):
            inputs = [x, self._time_input(time)]
            if self.conditional:
                inputs.append(lab)
            return network(inputs, training=training)

        def predict(x, time):
            if not self.conditional:
                return run(x, time, None)
            null = tf.fill(tf.shape(x)[:1], self.num_classes)
            if labels is None:
                return run(x, time, null)
            if guidance is None:
                return run(x, time, labels)
            both = run(tf.concat([x, x], 0), tf.concat([time, time], 0),
                       tf.concat([labels, null], 0))
            cond, uncond = tf.split(both, 2)
            return uncond + tf.reshape(guidance, [-1, 1, 1, 1]) * (cond - uncond)

        return predict

    # -------------------------------------------------------------- training
    def _train_labels(self, labels, training):
        """Labels with `label_dropout` of them replaced by the null label."""
        if not self.conditional:
            return None
        if not training or not self.label_dropout:
            return labels
        drop = self._noise(lambda n, s: tf.random.stateless_uniform([n], s), tf.shape(labels)[0],
                           training) < self.label_dropout
        return tf.where(drop, self.num_classes, labels)

    def _noise(self, draw, rows, training):
        if training:
            return self.training_noise(draw, rows)
        return replica_rows(draw, rows, tf.constant(_EVAL_SEED, tf.int32))

    def _image_noise(self, rows, training):
        return self._noise(lambda n, s: tf.random.stateless_normal(
            tf.concat([[n], self.image_shape], 0), seed=s), rows, training)

    def _training_pair(self, x0, training):
        """(network input x_t, process time [N], regression target) for data x0."""
        raise NotImplementedError

    def loss_terms(self, images, labels, training):
        x0 = to_model_space(images)
        xt, time, target = self._training_pair(x0, training)
        predict = self.predictor(self._train_labels(labels, training), network=self.network,
                                 training=training)
        error = tf.square(tf.cast(predict(xt, time), tf.float32) - target)
        # L_simple ([2] eq. 14): a mean over dimensions per example.
        return {"loss": tf.reduce_mean(error, axis=[1, 2, 3])}

    def _after_update(self):
        self._update_ema()

    def _update_ema(self):
        if self.ema_network is None:
            return
        n = tf.cast(self.optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + n) / (10.0 + n))
        pairs = list(zip(self.ema_network.weights, self.network.weights))
        context = tf.distribute.get_replica_context()
        if not tf.distribute.has_strategy() or context is None:
            for ema, w in pairs:
                ema.assign(decay * ema + (1.0 - decay) * w)
            return

        # Mirrored variables refuse a plain assign in a replica context; the
        # update runs once per device from the cross-replica context instead,
        # as the optimizers' own updates do.
        def cross_replica(strategy, decay):
            for ema, w in pairs:
                strategy.extended.update(
                    ema.value, lambda e, w, d: e.assign(d * e + (1.0 - d) * w),
                    args=(w.value, decay), group=False)

        context.merge_call(cross_replica, args=(decay,))

    def call(self, inputs, training=False):
        """The network's prediction at the least noisy time for images in [0, 1]."""
        x = to_model_space(tf.convert_to_tensor(inputs, tf.float32))
        return self.predictor(network=self.network, training=training)(
            x, tf.zeros(tf.shape(x)[:1]))

    def _guidance_arg(self, guidance, num_rows):
        """Checked guidance for a Python call: None where unconditional."""
        if not self.conditional:
            if guidance not in (None, 1.0):
                raise InputError(f"model {self.registered_name!r} is not class-conditional "
                                 "here; guidance needs num_classes")
            return None
        if guidance is None:
            return None  # the conditional model itself, one pass
        g = self.check_guidance(guidance, num_rows)
        if g.shape[0] is not None and g.shape[0] != num_rows:
            raise InputError(f"guidance has {g.shape[0]} rows for {num_rows} seed rows")
        return g

    # ---------------------------------------------------------- generation
    def _generate(self, x_t, noise, predict, **sampler):
        """Images in [-1, 1] from start noise x_t; `noise(k)` is step k's noise."""
        raise NotImplementedError

    def _sampler_steps(self, **sampler):
        """How many noise draws `_generate` may make with these settings."""
        raise NotImplementedError

    def _sample_rows(self, seeds, labels=None, guidance=None, **sampler):
        x_t, noise = row_noise(seeds, self._sampler_steps(**sampler), self.image_shape)
        predict = self.predictor(labels, guidance)
        return to_images(self._generate(x_t, noise, predict, **sampler))

    def _sample(self, seeds, labels=None):
        return self._sample_rows(seeds, labels, **self.sampler_options())

    def sample(self, num_samples, seed=None, labels=None, draw=False, guidance=None,
               **sampler):
        """As `GenerativeModel.sample`, with the family's sampler options
        (see `sample_from_seeds`)."""
        if labels is None and self.conditional:
            labels = np.arange(num_samples) % self.num_classes
        return self.sample_from_seeds(per_row_seeds(num_samples, seed), labels, draw,
                                      guidance, **sampler)

    def sample_from_seeds(self, seeds, labels=None, draw=False, guidance=None, **sampler):
        """One image per seed row.

        Args:
          seeds: int32 [N, 2].
          labels: int32 [N], conditional models only.
          draw: ignored (samples are draws).
          guidance: conditional models: scale s per row ([N] or a number;
            default 1, the conditional model; 0 the unconditional one).
          **sampler: the family's sampler options (`sampler`, `steps`, ...);
            defaults from the constructor.

        Returns:
          float32 [N, H, W, C] in [0, 1].
        """
        del draw
        seeds = checks.seeds(seeds)
        n = seeds.shape[0]
        labels = self.labels_arg(labels, n)
        guidance = self._guidance_arg(guidance, n)
        return self.as_graph(self._sample_rows)(seeds, labels, guidance,
                                                **self.sampler_options(**sampler))

    def sampler_options(self, **sampler):
        """The sampler settings of a call, defaults filled in and checked."""
        raise NotImplementedError

    # -------------------------------------------------------------- figures
    def _noised(self, x0, fraction, eps):
        """(x_t, process time) at `fraction` in [0, 1] of the way to noise."""
        raise NotImplementedError

    def _predicted_x0(self, xt, time):
        """The x_0 the sampling network predicts from x_t in one step."""
        raise NotImplementedError

    def figures(self, images, seed=0):
        """"denoising": for up to 4 test images, a row of x_t at 8 times from
        data to noise and below it the one-step prediction of x_0 from each."""
        x0 = to_model_space(tf.convert_to_tensor(images[:4], tf.float32))
        n = int(x0.shape[0])
        rows = []
        eps = tf.random.stateless_normal(tf.shape(x0), seed=[seed, 0])
        columns = [self._noised(x0, f, eps) for f in np.linspace(0.0, 1.0, 8)]
        for noised in ([to_images(x) for x, _ in columns],
                       [to_images(self._predicted_x0(x, t)) for x, t in columns]):
            rows.append(tf.stack(noised, 1))
        grid = tf.reshape(tf.stack(rows, 1), (2 * n * 8,) + self.image_shape)
        return {"denoising": (grid, 8)}

    # ------------------------------------------------------ encode / decode
    def _to_noise(self, x0, predict):
        raise NotImplementedError

    def _from_noise(self, x_t, predict):
        raise NotImplementedError

    def encode(self, images, labels=None):
        """Images [N, H, W, C] -> their deterministic noise codes z [N, D]
        (the ODE / DDIM eta = 0 map run forwards; [3] sec. 4.3).

        Args:
          labels: int32 [N] for a conditional model's p(x | y); None uses
            the unconditional model (the null label).
        """
        images = self.check_images(images)
        return self.as_graph(self._encode)(images, self._optional_labels(labels, images.shape[0]))

    def decode(self, z, labels=None):
        """Codes z [N, D] -> images [N, H, W, C] in [0, 1] (the inverse of
        `encode` with the same labels)."""
        z = self.check_code_width(z)
        return self.as_graph(self._decode)(z, self._optional_labels(labels, z.shape[0]))

    def reconstruct(self, images):
        """decode(encode(images)) through the unconditional model."""
        return self.as_graph(self._reconstruct)(self.check_images(images))

    def as_graph(self, method):
        """`method` (a bound method of this model) as a graph function when
        called eagerly: the sampling loops make a network call per step,
        and eagerly each would be a Python iteration. The functions are
        kept outside Keras' tracking, so exports do not save them."""
        if not tf.executing_eagerly():
            return method
        cache = self.__dict__.get("_graph_functions")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_graph_functions", cache)
        name = method.__name__
        if name not in cache:
            cache[name] = tf.function(method, reduce_retracing=True)
        return cache[name]

    def _optional_labels(self, labels, num_rows):
        """Checked labels, or None (the unconditional model) where not given."""
        return None if labels is None else self.labels_arg(labels, num_rows)

    def _encode(self, images, labels=None):
        x = self._to_noise(to_model_space(images), self.predictor(labels))
        return tf.reshape(x, [tf.shape(x)[0], self.num_dims])

    def _decode(self, z, labels=None):
        x = tf.reshape(z, tf.concat([[-1], self.image_shape], 0))
        return to_images(self._from_noise(x, self.predictor(labels)))

    def _reconstruct(self, images):
        """decode(encode(x)) through the unconditional model."""
        return self._decode(self._encode(images))

    def check_code_width(self, z):
        """float32 [N, D], D checked in the graph too (served requests)."""
        return checks.code_width(self.check_codes(z), self.num_dims)

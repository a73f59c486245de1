"""VQ-VAE with the zoo's gated PixelCNN as its learned prior over codes."""

import math

import keras
import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.autoregressive.gated_pixelcnn import GatedPixelCNN
from zoo.base import GenerativeModel
from zoo.errors import ConfigError
from zoo.layers.networks import center_crop, network
from zoo.layers.quantize import VectorQuantizer, perplexity
from zoo.layers.sampling import tfp_seed
from zoo.registry import register

STAGES = ("autoencoder", "prior")


def _residual_stack(h, filters, blocks):
    """[1] sec. 4.1: ReLU, 3x3 conv, ReLU, 1x1 conv, added to the input."""
    for _ in range(blocks):
        r = keras.layers.Conv2D(filters, 3, padding="same")(keras.layers.ReLU()(h))
        r = keras.layers.Conv2D(filters, 1)(keras.layers.ReLU()(r))
        h = keras.layers.Add()([h, r])
    return keras.layers.ReLU()(h)


@register("vq_vae")
class VQVAE(GenerativeModel):
    """Vector-quantized VAE with a learned autoregressive prior ([1]).

    Stage one (`stage="autoencoder"`) trains encoder, codebook and decoder
    on  ||x - D(z_q)||^2 + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2  ([1]
    eq. 3; the codebook term is dropped with the EMA codebook), with the
    straight-through gradient of z_q to z_e. Stage two (`stage="prior"`)
    freezes them and trains the prior: the zoo's `gated_pixelcnn` over the
    grid of code indices, with `num_levels` = `num_codes` (class-conditional
    when `num_classes` is set). Both stages are one model, saved and
    exported as one: stage two starts from a finished stage-one run with
    `zoo train vq_vae --set stage=prior --init-from RUN_DIR`, which copies
    the autoencoder's weights (`warm_start`).

    `sample` draws a code grid from the prior (its row-cached sampler) and
    decodes it; the same runs in the served graph. `log_prob` is not
    offered: the decoder is a deterministic map trained with squared error,
    so the model defines no density on pixels. What is reported is the
    prior's bits per code (`prior_log_prob`) and reconstruction error.

    Args:
      image_shape: (H, W, C).
      num_codes: codebook size K (2..256, the prior's levels).
      code_dim: D, the width of each code vector.
      filters: channels of the stride-2 convolutions; the code grid is
        ceil(H / 2^L) x ceil(W / 2^L) for L = len(filters).
      residual_blocks: residual blocks after the encoder's and before the
        decoder's convolutions.
      beta: commitment weight ([1]: 0.25).
      ema_decay: None (codebook learned by its loss) or the EMA decay
        ([1], appendix A.1: 0.99).
      restart_threshold: running usage below which a code is restarted at
        a batch encoder output (0: never); see `zoo.layers.quantize`.
      stage: "autoencoder" or "prior": which part trains.
      prior_filters, prior_layers: the gated PixelCNN's width and depth.
      num_classes: None, or the class count of a class-conditional prior.
      seed: seeds restarts.

    References:
      [1] van den Oord, Vinyals, Kavukcuoglu. Neural Discrete Representation
          Learning. NeurIPS 2017.
      [2] van den Oord et al. Conditional Image Generation with PixelCNN
          Decoders. NeurIPS 2016.
    """

    def __init__(self, image_shape=(8, 8, 1), num_codes=32, code_dim=16, filters=(64,),
                 residual_blocks=1, beta=0.25, ema_decay=None, restart_threshold=1.0,
                 stage="autoencoder", prior_filters=32, prior_layers=4,
                 num_classes=None, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.num_codes = checks.int_in_range("num_codes", num_codes, 2, 256)
        self.code_dim = checks.positive_int("code_dim", code_dim)
        self.filters = checks.positive_ints("filters", filters)
        self.residual_blocks = checks.int_at_least("residual_blocks", residual_blocks, 0)
        self.beta = checks.non_negative_float("beta", beta)
        self.ema_decay = checks.optional(checks.open_unit_float, "ema_decay", ema_decay)
        self.restart_threshold = checks.non_negative_float("restart_threshold",
                                                           restart_threshold)
        self.stage = checks.choice("stage", stage, STAGES)
        self.num_classes = checks.optional(checks.positive_int, "num_classes", num_classes)
        scale = 2 ** len(self.filters)
        self.grid_shape = (math.ceil(self.image_shape[0] / scale),
                           math.ceil(self.image_shape[1] / scale))
        self.encoder = self._build_encoder()
        self.quantizer = VectorQuantizer(self.num_codes, self.code_dim, self.ema_decay,
                                         self.restart_threshold, name="quantizer")
        self.quantizer.build()
        self.decoder = self._build_decoder()
        self.prior = GatedPixelCNN(
            image_shape=self.grid_shape + (1,), num_levels=self.num_codes,
            filters=prior_filters, num_layers=prior_layers, num_classes=self.num_classes,
            seed=seed, name="prior")
        # Only the stage's part is trainable, so the optimizer never moves the other.
        for part in (self.encoder, self.quantizer, self.decoder):
            part.trainable = self.stage == "autoencoder"
        self.prior.trainable = self.stage == "prior"
        self.metric_names = (("loss", "reconstruction", "codebook", "commitment",
                              "perplexity") if self.stage == "autoencoder"
                             else ("loss", "bits_per_code", "perplexity"))
        self.built = True

    def _build_encoder(self):
        images = keras.Input(self.image_shape)
        h = images
        for f in self.filters:
            h = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu")(h)
        h = keras.layers.Conv2D(self.filters[-1], 3, padding="same")(h)
        h = _residual_stack(h, self.filters[-1], self.residual_blocks)
        return network(images, keras.layers.Conv2D(self.code_dim, 1)(h), name="encoder")

    def _build_decoder(self):
        z_q = keras.Input(self.grid_shape + (self.code_dim,))
        h = keras.layers.Conv2D(self.filters[-1], 3, padding="same")(z_q)
        h = _residual_stack(h, self.filters[-1], self.residual_blocks)
        for f in reversed(self.filters):
            h = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same",
                                             activation="relu")(h)
        h = center_crop(h, *self.image_shape[:2])
        # Linear: a sigmoid output saturated and stalled training under the
        # squared error; public outputs are clipped to [0, 1] (`_decode`).
        out = keras.layers.Conv2D(self.image_shape[-1], 3, padding="same")(h)
        return network(z_q, out, name="decoder")

    # ---------------------------------------------------------------- codes
    def codes_to_levels(self, indices):
        """Code grid [N, h, w] -> the prior's images [N, h, w, 1] in [0, 1]
        (level k of K is k / (K - 1), which the prior quantizes back to k)."""
        return tf.cast(indices, tf.float32)[..., None] / (self.num_codes - 1)

    def levels_to_codes(self, images):
        return tf.cast(tf.round(images[..., 0] * (self.num_codes - 1)), tf.int32)

    def check_codes(self, z):
        """int32 [N, h, w] code indices in [0, num_codes)."""
        return checks.index_grid(z, self.grid_shape, self.num_codes)

    @property
    def requires_labels(self):
        return self.conditional and self.stage == "prior"

    # --------------------------------------------------------------- surface
    def _encode(self, images):
        """The code grid [N, h, w] (int32) of images."""
        return self.quantizer.nearest(self.encoder(images))

    def _decode(self, z):
        return tf.clip_by_value(self.decoder(self.quantizer.lookup(z)), 0.0, 1.0)

    def _reconstruct(self, images):
        return self._decode(self._encode(images))

    def _sample_outputs(self, seeds, labels=None):
        codes = self.levels_to_codes(self.prior._sample(seeds, labels))
        return {"images": self._decode(codes), "codes": codes}

    def _sample(self, seeds, labels=None):
        return self._sample_outputs(seeds, labels)["images"]

    def call(self, inputs, training=False):
        return self._reconstruct(inputs)

    def prior_log_prob(self, images, labels=None):
        """log p(code grid of images) under the prior, in nats [N]."""
        images = self.check_images(images)
        labels = self.labels_arg(labels, images.shape[0])
        return self._prior_log_prob(images, labels)

    def _prior_log_prob(self, images, labels=None):
        terms = self.prior.log_prob_terms(self.codes_to_levels(self._encode(images)), labels)
        return tf.reduce_sum(tf.reshape(terms, [tf.shape(terms)[0], -1]), 1)

    def evaluation_terms(self, images, labels=None):
        """The prior's bits per code of each image, for the evaluation (a
        class-conditional prior needs the batch's labels)."""
        if self.conditional and labels is None:
            return {}
        labels = self.check_labels(labels) if self.conditional else None
        nats = self._prior_log_prob(images, labels)
        return {"prior_bits_per_code": -nats / (np.log(2.0) * self.num_code_dims)}

    @property
    def num_code_dims(self):
        return self.grid_shape[0] * self.grid_shape[1]

    def figures(self, images, seed=0):
        """Test images next to their reconstructions."""
        del seed
        x = np.asarray(images, np.float32)[:32]
        pairs = np.stack([x, self.reconstruct(x).numpy()], 1)
        return {"reconstructions": (pairs.reshape((-1,) + x.shape[1:]), 16)}

    # -------------------------------------------------------------- training
    def loss_terms(self, images, labels, training):
        if self.stage == "prior":
            return self._prior_terms(images, labels)
        q = self.quantizer(self.encoder(images, training=training), training=training,
                           seed=tfp_seed(self.seed_generator) if training else None)
        reconstruction = tf.reduce_mean(
            tf.square(self.decoder(q["z_q"], training=training) - images), [1, 2, 3])
        loss = reconstruction + self.beta * q["commitment"]
        if self.ema_decay is None:
            loss = loss + q["codebook"]
        return {"loss": loss, "reconstruction": reconstruction, "codebook": q["codebook"],
                "commitment": q["commitment"], "perplexity": q["perplexity"]}

    def _prior_terms(self, images, labels):
        codes = tf.stop_gradient(self._encode(images))
        terms = self.prior.log_prob_terms(self.codes_to_levels(codes), labels)
        nats = -tf.reduce_sum(tf.reshape(terms, [tf.shape(terms)[0], -1]), 1) \
            / self.num_code_dims
        counts = tf.reduce_sum(tf.one_hot(codes, self.num_codes), [0, 1, 2])
        return {"loss": nats, "bits_per_code": nats / np.log(2.0),
                "perplexity": perplexity(counts)}

    def warm_start(self, source):
        """Copies a trained vq_vae's autoencoder (encoder, codebook, decoder)
        into this model, e.g. to train the prior of a finished stage one.

        Args:
          source: a `VQVAE` with the same image shape, codebook and networks.
        """
        keys = ("image_shape", "num_codes", "code_dim", "filters", "residual_blocks",
                "ema_decay")
        if not isinstance(source, VQVAE):
            raise ConfigError(f"cannot start vq_vae from a {type(source).__name__}")
        mine, theirs = self.get_config(), source.get_config()
        differ = [k for k in keys if mine[k] != theirs[k]]
        if differ:
            raise ConfigError("the source vq_vae's autoencoder differs in " + ", ".join(
                f"{k} ({theirs[k]!r}, here {mine[k]!r})" for k in differ))
        for part in ("encoder", "quantizer", "decoder"):
            for mine_w, their_w in zip(getattr(self, part).weights,
                                       getattr(source, part).weights):
                mine_w.assign(their_w)
        return ["encoder", "quantizer", "decoder"]

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        image_spec = self.image_spec()
        codes_spec = tf.TensorSpec((None,) + self.grid_shape, tf.int32, name="codes")

        def prior_log_prob(images, labels=None):
            nats = self._prior_log_prob(self.check_images(images), labels)
            return {"nats": nats, "bits_per_code": nats / (np.log(2.0) * self.num_code_dims)}

        endpoints.update(
            encode=(lambda images: {"codes": self._encode(self.check_images(images))},
                    [image_spec]),
            decode=(lambda codes: {"images": self._decode(self.check_codes(codes))},
                    [codes_spec]),
            reconstruct=(lambda images: {
                "images": self._reconstruct(self.check_images(images))}, [image_spec]),
            prior_log_prob=self.endpoint(prior_log_prob, image_spec),
        )
        return endpoints

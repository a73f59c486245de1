"""What the models that learn from few labels share.

Batches are (images, labels) with label -1 for an unlabelled example
(`training.datasets.load_partially_labelled` builds such streams; a batch
without labels counts as wholly unlabelled). `SemiSupervised` accepts them;
a model's supervised terms use the labelled rows alone
(`zoo.losses.masked_class_cross_entropy`, the in-batch pair masks).

`EmbeddingModel` is the base of the metric-learning models: a network from
images to embeddings, trained on the labelled pairs or triplets of each
batch, served as `embed` (and `encode`, which the linear probe reads).
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.layers.networks import conv_downsampler, network
from zoo.losses import accuracy, pair_masks, pairwise_squared_distances

_LABEL_MAX = 2 ** 31 - 1


class SemiSupervised:
    """Mixed in before a `GenerativeModel` base: labels of -1 are allowed
    in training batches, and every batch carries labels."""

    learns_from_unlabelled = True

    @property
    def requires_labels(self):
        return True

    def unpack_batch(self, data):
        images = tf.cast(self.images_from_batch(data), tf.float32)
        labels = data[1] if isinstance(data, (tuple, list)) and len(data) > 1 else None
        if labels is None:
            return images, -tf.ones(tf.shape(images)[:1], tf.int32)
        k = getattr(self, "num_classes", None)
        return images, checks.int_vector(
            "labels", labels, -1, k - 1 if k else _LABEL_MAX,
            interval=f"[-1, {k})" if k else "[-1, 2**31)")

    @staticmethod
    def labelled(labels):
        """1.0 for labelled rows, 0.0 for unlabelled ones, [N]."""
        return tf.cast(labels >= 0, tf.float32)

    def labelled_accuracy(self, logits, labels):
        """Accuracy over the batch's labelled rows (a scalar; 0 without any)."""
        mask = self.labelled(labels)
        correct = accuracy(logits, tf.maximum(labels, 0)) * mask
        return tf.reduce_sum(correct) / tf.maximum(tf.reduce_sum(mask), 1.0)

    # ----------------------------------------------------------- classify
    def classify(self, images):
        """Class probabilities [N, num_classes] of images [N, H, W, C]."""
        return tf.nn.softmax(self._class_logits(self.check_images(images)))

    def _class_logits(self, images):
        raise NotImplementedError

    def evaluation_terms(self, images, labels=None):
        """Per-image classification error on the labelled test rows."""
        if labels is None:
            return {}
        labels = tf.cast(labels, tf.int32)
        return {"classification_error": 1.0 - accuracy(self._class_logits(images), labels)}

    def classify_endpoint(self):
        """The `classify` signature: images -> probabilities, label."""
        def classify(images):
            logits = self._class_logits(self.check_images(images))
            return {"probabilities": tf.nn.softmax(logits),
                    "label": tf.argmax(logits, -1, output_type=tf.int32)}
        return classify, [self.image_spec()]


class EmbeddingModel(SemiSupervised, GenerativeModel):
    """Images -> embeddings [N, embedding_dim], learned from labelled pairs.

    Args:
      image_shape: (H, W, C).
      embedding_dim: size of the embedding.
      filters: channels of the stride-2 conv stages.
      dense_units: width of the dense layer before the embedding.
      margin: the loss's margin.
      normalize: L2-normalize the embeddings (FaceNet's unit hypersphere).
      seed: unused randomness seed kept for the shared interface.
    """

    metric_names = ("loss", "positive_distance", "negative_distance")

    def __init__(self, image_shape, embedding_dim, filters, dense_units, margin, normalize,
                 seed=None, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.embedding_dim = checks.positive_int("embedding_dim", embedding_dim)
        self.filters = checks.positive_ints("filters", filters)
        self.dense_units = checks.positive_int("dense_units", dense_units)
        self.margin = checks.positive_float("margin", margin)
        self.normalize = bool(normalize)
        images = keras.Input(self.image_shape)
        h = conv_downsampler(images, self.filters)
        h = keras.layers.Dense(self.dense_units, activation="relu")(h)
        self.embedder = network(images, keras.layers.Dense(self.embedding_dim)(h),
                                name="embedder")
        self.latent_dim = self.embedding_dim
        self.built = True

    def evaluation_terms(self, images, labels=None):
        """None per batch: embeddings are scored on the whole split by
        `training.evaluate` (knn_accuracy, recall_at_k, linear_probe)."""
        return {}

    def _embed(self, images, training=False):
        e = self.embedder(images, training=training)
        return tf.math.l2_normalize(e, -1) if self.normalize else e

    def embed(self, images):
        """Embeddings [N, embedding_dim] of images [N, H, W, C] in [0, 1]."""
        return self._embed(self.check_images(images))

    def _encode(self, images):
        return self._embed(images)

    def call(self, inputs, training=False):
        return self._embed(inputs, training=training)

    def pair_loss(self, embeddings, labels):
        """The model's loss per example [N] on a batch's labelled rows."""
        raise NotImplementedError

    def loss_terms(self, images, labels, training):
        embeddings = self._embed(images, training=training)
        labels = tf.cast(labels, tf.int32)
        distances = tf.sqrt(pairwise_squared_distances(embeddings) + 1e-12)
        same, different = pair_masks(labels)

        def mean_over(mask):
            mask = tf.cast(mask, tf.float32)
            return tf.reduce_sum(distances * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)

        return {"loss": self.pair_loss(embeddings, labels),
                "positive_distance": mean_over(same),
                "negative_distance": mean_over(different)}

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        spec = self.image_spec()
        endpoints.update(
            embed=(lambda images: {"embedding": self._embed(self.check_images(images))},
                   [spec]),
            encode=(lambda images: {"z": self._embed(self.check_images(images))}, [spec]))
        return endpoints

    hub_endpoint = "embed"

    def figures(self, images, seed=0):
        """Each test image beside its 7 nearest test images in embedding space."""
        del seed
        x = np.asarray(images, np.float32)[:64]
        e = np.asarray(self._embed(x))
        d = np.sum(np.square(e[:, None] - e[None]), -1)
        order = np.argsort(d, 1)[:8, :8]  # itself first
        return {"neighbours": (x[order.reshape(-1)], 8)}

"""Siamese network with the contrastive loss."""

from zoo.losses import contrastive_in_batch
from zoo.registry import base_arguments, register
from zoo.semi.base import EmbeddingModel


@register("siamese")
class Siamese(EmbeddingModel):
    """Siamese embedding trained with the contrastive loss ([1], eq. 4).

    Every pair of labelled rows in a batch is a training pair: same label,
    1/2 D^2; different labels, 1/2 max(0, margin - D)^2, with D the
    Euclidean distance of the two embeddings (one shared network, the
    "siamese" twins). Each row's loss is the mean over its pairs; unlabelled
    rows (label -1) take no part.

    Args:
      image_shape: (H, W, C).
      embedding_dim, filters, dense_units: the embedding network.
      margin: m; dissimilar pairs farther apart than m cost nothing.
      normalize: L2-normalize embeddings (off in [1]).
      seed: unused.

    References:
      [1] Hadsell, Chopra, LeCun. Dimensionality Reduction by Learning an
          Invariant Mapping. CVPR 2006.
    """

    def __init__(self, image_shape=(8, 8, 1), embedding_dim=32, filters=(32, 64),
                 dense_units=128, margin=1.0, normalize=False, seed=None, **kwargs):
        super().__init__(**base_arguments(EmbeddingModel, locals()))

    def pair_loss(self, embeddings, labels):
        return contrastive_in_batch(embeddings, labels, self.margin)

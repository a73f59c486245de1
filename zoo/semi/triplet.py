"""Triplet network with in-batch semi-hard negative mining."""

from zoo.losses import triplet_semi_hard
from zoo.registry import base_arguments, register
from zoo.semi.base import EmbeddingModel


@register("triplet")
class Triplet(EmbeddingModel):
    """FaceNet-style triplet embedding ([1]).

    Embeddings live on the unit hypersphere. For every anchor-positive pair
    of labelled rows in a batch, the negative is mined in the batch: the
    nearest negative that is farther from the anchor than the positive
    (semi-hard, [1] sec. 3.2), or the farthest negative when there is none.
    Loss: max(0, ||a - p||^2 - ||a - n||^2 + margin), averaged over each
    anchor's positives; unlabelled rows take no part.

    Args:
      image_shape: (H, W, C).
      embedding_dim, filters, dense_units: the embedding network.
      margin: alpha ([1]: 0.2).
      normalize: L2-normalize embeddings ([1]: yes).
      seed: unused.

    References:
      [1] Schroff, Kalenichenko, Philbin. FaceNet: A Unified Embedding for
          Face Recognition and Clustering. CVPR 2015.
    """

    def __init__(self, image_shape=(8, 8, 1), embedding_dim=32, filters=(32, 64),
                 dense_units=128, margin=0.2, normalize=True, seed=None, **kwargs):
        super().__init__(**base_arguments(EmbeddingModel, locals()))

    def pair_loss(self, embeddings, labels):
        return triplet_semi_hard(embeddings, labels, self.margin)

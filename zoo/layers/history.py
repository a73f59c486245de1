"""The image history buffer of Shrivastava et al. 2017 (used by CycleGAN)."""

import keras
import tensorflow as tf


class ImageHistory(keras.layers.Layer):
    """A pool of past generated images that the discriminator also sees.

    `query(images, seed)`: while the pool is filling, each image is stored
    and returned as is; once full, each image is returned as is with
    probability 1/2, else a random stored image is returned and replaced by
    it ([2], sec. 4.1; [1], sec. 2.1). The pool is a non-trainable weight, so
    `.keras` files, the trainer's checkpoints and exports keep it and a
    resumed run continues with it. Under tf.distribute the first replica's
    pool is kept.

    Args:
      size: images the pool holds ([1]: 50).
      image_shape: (H, W, C).

    References:
      [1] Zhu, Park, Isola, Efros. Unpaired Image-to-Image Translation using
          Cycle-Consistent Adversarial Networks. ICCV 2017.
      [2] Shrivastava et al. Learning from Simulated and Unsupervised Images
          through Adversarial Training. CVPR 2017.
    """

    def __init__(self, size, image_shape, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.size, self.image_shape = int(size), tuple(image_shape)

    def build(self, input_shape=None):
        self.pool = self.add_weight(name="pool", shape=(self.size,) + self.image_shape,
                                    initializer="zeros", trainable=False,
                                    aggregation="only_first_replica")
        self.count = self.add_weight(name="count", shape=(), initializer="zeros",
                                     trainable=False, aggregation="only_first_replica")

    def query(self, images, seed):
        """images [N, H, W, C], seed int32 [2] -> the images D should see, [N, ...]."""
        images = tf.cast(images, tf.float32)
        n = tf.shape(images)[0]
        count = tf.cast(self.count, tf.int32)
        rows = tf.range(n)
        filling = count + rows < self.size
        swap = tf.logical_and(tf.logical_not(filling),
                              tf.random.stateless_uniform([n], seed) < 0.5)
        slots = tf.where(filling, count + rows,
                         tf.random.stateless_uniform([n], seed + 1, 0, self.size, tf.int32))
        stored = tf.gather(self.pool, tf.minimum(slots, self.size - 1))
        out = tf.where(swap[:, None, None, None], stored, images)
        write = tf.logical_or(filling, swap)
        self.pool.assign(tf.tensor_scatter_nd_update(
            self.pool, tf.boolean_mask(slots, write)[:, None], tf.boolean_mask(images, write)))
        self.count.assign(tf.cast(tf.minimum(count + n, self.size), tf.float32))
        return out

    def get_config(self):
        return {**super().get_config(), "size": self.size, "image_shape": self.image_shape}

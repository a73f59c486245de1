"""The serving signatures of diffusion models (mixed into `DiffusionModel`).

Sampling signatures take one `seed` row per image and, for class-conditional
models, a `guidance` scale and a `label` per row; a step count is fixed per
signature, because TF Serving may merge requests along the batch. Every
input must have one row per sample, checked in the graph.
"""

import tensorflow as tf

from zoo import checks
from zoo.errors import InputError


class DiffusionEndpoints:
    """Guidance and row checks, the sampling endpoint factory and the shared
    signatures (`serving_default`, `encode`, `decode`, `reconstruct`)."""

    def check_guidance(self, guidance, num_rows=None):
        """float32 [N] guidance scales, finite (checked in the graph too)."""
        g = tf.convert_to_tensor(guidance, tf.float32)
        if g.shape.rank == 0:
            if num_rows is None:
                raise InputError("guidance must be a vector [N] of scales")
            g = tf.fill([num_rows], g)
        if g.shape.rank != 1:
            raise InputError(f"guidance must have shape [N], got {list(g.shape)}")
        check = tf.debugging.assert_all_finite(g, "guidance must be finite")
        with tf.control_dependencies([check]):
            return tf.identity(g)

    def check_rows_match(self, reference, *tensors):
        """In-graph check that every tensor has as many rows as `reference`
        (served requests with several inputs)."""
        n = tf.shape(reference)[0]
        checks_ = [tf.debugging.assert_equal(tf.shape(t)[0], n,
                                             message="every input needs one row per sample")
                   for t in tensors if t is not None]
        with tf.control_dependencies(checks_):
            return tf.identity(reference)

    def guidance_spec(self):
        return tf.TensorSpec((None,), tf.float32, name="guidance")

    def sampling_endpoint(self, **sampler):
        """A serving endpoint (seed [, guidance, label]) -> images for fixed
        sampler settings (a step count must not vary along the batch)."""
        sampler = self.sampler_options(**sampler)
        if not self.conditional:
            return self.endpoint(
                lambda seed: {"images": self._sample_rows(checks.seeds(seed), **sampler)},
                self.seed_spec())

        def fn(seed, guidance, labels):
            seed = self.check_rows_match(checks.seeds(seed), guidance, labels)
            return {"images": self._sample_rows(seed, labels, self.check_guidance(guidance),
                                                **sampler)}

        return self.endpoint(fn, self.seed_spec(), self.guidance_spec())

    def serving_endpoints(self):
        """`serving_default` (the default sampler), `encode` (images -> z),
        `decode` (z -> images) and `reconstruct` (images -> images, through
        the unconditional model); conditional models take `label` [N] with
        the first three, and `guidance` [N] with each sampler. Families add
        their samplers."""
        endpoints = {"serving_default": self.sampling_endpoint()}

        def encode(images, labels=None):
            images = self.check_images(images)
            if labels is not None:
                images = self.check_rows_match(images, labels)
            return {"z": self._encode(images, labels)}

        def decode(z, labels=None):
            z = self.check_code_width(z)
            if labels is not None:
                z = self.check_rows_match(z, labels)
            return {"images": self._decode(z, labels)}

        endpoints["encode"] = self.endpoint(encode, self.image_spec())
        endpoints["decode"] = self.endpoint(decode, self.z_spec())
        endpoints["reconstruct"] = self.endpoint(
            lambda images: {"images": self._reconstruct(self.check_images(images))},
            self.image_spec(), labels=False)
        return endpoints

"""The serving conventions every zoo model shares (mixed into `GenerativeModel`).

Signatures are batch-major and name their inputs the same way across the
zoo: `seed` (int32 [N, 2]), `images` (float32 [N, H, W, C] in [0, 1]), `z`
(float32 [N, latent_dim]) and `label` (int32 [N]); each returns a dict.
"""

import inspect

import tensorflow as tf


class ServingEndpoints:
    """Input specs, the `label` helper and the default `serving_endpoints`."""

    def image_spec(self, name="images"):
        return tf.TensorSpec((None,) + self.image_shape, tf.float32, name=name)

    def z_spec(self):
        return tf.TensorSpec((None, self.latent_dim), tf.float32, name="z")

    @staticmethod
    def seed_spec():
        return tf.TensorSpec((None, 2), tf.int32, name="seed")

    @staticmethod
    def label_spec():
        return tf.TensorSpec((None,), tf.int32, name="label")

    def endpoint(self, fn, *specs, labels=None):
        """A serving endpoint (fn, [specs]); adds the `label` input where needed.

        Args:
          fn: takes the inputs named by `specs` positionally (and `labels=`
            when labelled) and returns a dict of batch-major tensors.
          *specs: named `tf.TensorSpec`s.
          labels: whether the endpoint takes a `label` input (default:
            `conditional`); it is range-checked in the graph and passed to
            `fn` as `labels`.
        """
        if not (self.conditional if labels is None else labels):
            return fn, list(specs)
        specs = list(specs) + [self.label_spec()]

        def labelled(*args):
            return fn(*args[:-1], labels=self.check_labels(args[-1]))

        # The exported signature names its inputs after the parameters.
        labelled.__signature__ = inspect.Signature([
            inspect.Parameter(s.name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for s in specs])
        return labelled, specs

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
            endpoints["serving_default"] = self.endpoint(
                lambda seed, labels=None: self._sample_outputs(seed, labels),
                self.seed_spec())
        return endpoints

"""Sampling by running a Markov chain, shared by `rbm`, `dbn` and `gsn`.

A model of this family samples by running a chain from a random start for a
fixed number of steps. `ChainSampling` (a mixin beside `GenerativeModel` or
a family base) owns what that means for the zoo's surface:

- `sample(n, seed, steps=None)` and `sample_from_seeds`, with per-row
  randomness from `zoo.energy.chains` (row i is the same alone or in any
  batch);
- the served samplers: `serving_default` runs `sampling_steps`, and one
  `sample_gibbs_S` signature per entry of `chain_signatures`, so that the
  number of steps never is a (batch-breaking) scalar input;
- the "chain" figure: the chains' states every `snapshot_every` steps, one
  row per snapshot.

A model supplies `_chain_start(keys)`, `_chain_step(t, state, keys)` and
`_chain_images(state, keys)` (-> {"images": means, "draws": draws}).
"""

import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.energy.chains import row_keys, run_chain
from zoo.layers.sampling import per_row_seeds


class ChainSampling:
    """Mixin: samplers, signatures and figures of a Markov-chain model."""

    samples_are_means = True

    def _init_chains(self, sampling_steps, chain_signatures):
        self.sampling_steps = checks.positive_int("sampling_steps", sampling_steps)
        self.chain_signatures = tuple(checks.positive_ints(
            "chain_signatures", chain_signatures, allow_empty=True))

    # ---------------------------------------------------------------- hooks
    def _chain_start(self, keys):
        raise NotImplementedError

    def _chain_step(self, t, state, keys):
        raise NotImplementedError

    def _chain_images(self, state, keys):
        raise NotImplementedError

    # -------------------------------------------------------------- surface
    def sample(self, num_samples, seed=None, labels=None, draw=False, steps=None):
        """Draws `num_samples` images by running each chain `steps` steps.

        Args:
          num_samples: positive int N.
          seed: int; row i uses seed row [seed, i] (see `GenerativeModel.sample`).
          labels: not taken (the family is unconditional).
          draw: True returns the chain's last binary state instead of the
            visible means given the last hidden state.
          steps: chain length (default `sampling_steps`).

        Returns:
          float32 [N, H, W, C] in [0, 1].
        """
        self.labels_arg(labels)
        seeds = per_row_seeds(num_samples, seed)
        outputs = self.chain_outputs(seeds, steps)
        return outputs["draws" if draw else "images"]

    def chain_outputs(self, seeds, steps=None, snapshot_every=0):
        """{"images", "draws"} after `steps` steps from seed rows [N, 2]
        (and "snapshots" [S, N, H, W, C] with `snapshot_every`)."""
        steps = self.sampling_steps if steps is None else checks.int_at_least(
            "steps", steps, 0)
        return self._chain_fn(steps, snapshot_every)(checks.seeds(seeds))

    def _chain_fn(self, steps, snapshot_every):
        cache = self.__dict__.setdefault("_chain_fns", {})
        if (steps, snapshot_every) not in cache:
            cache[steps, snapshot_every] = tf.function(
                lambda seeds: self._run(seeds, steps, snapshot_every), autograph=False)
        return cache[steps, snapshot_every]

    def _run(self, seeds, steps, snapshot_every=0):
        keys = row_keys(seeds)
        state = self._chain_start(keys)
        step = lambda t, s: self._chain_step(t, s, keys)  # noqa: E731
        if not snapshot_every:
            return self._chain_images(run_chain(step, state, steps), keys)
        state, snaps = run_chain(step, state, steps, snapshot_every)
        images = tf.map_fn(lambda s: self._chain_images(s, keys)["images"], snaps)
        return dict(self._chain_images(state, keys), snapshots=images)

    def _sample_outputs(self, seeds, labels=None):
        return self._run(seeds, self.sampling_steps)

    def _sample(self, seeds, labels=None):
        return self._run(seeds, self.sampling_steps)["images"]

    def figures(self, images, seed=0):
        """Adds "chain": 10 chains (columns), one row per `snapshot_every`
        steps (100 for chains of 1000 steps or more)."""
        grids = super().figures(images, seed)
        every = 100 if self.sampling_steps >= 1000 else max(1, self.sampling_steps // 10)
        snaps = self.chain_outputs(per_row_seeds(10, seed), self.sampling_steps,
                                   every)["snapshots"]
        grids["chain"] = (np.asarray(snaps).reshape((-1,) + self.image_shape), 10)
        return grids

    def serving_endpoints(self):
        """Adds `sample_gibbs_S` (seed -> images, draws) per `chain_signatures`."""
        endpoints = super().serving_endpoints()
        for steps in self.chain_signatures:
            endpoints[f"sample_gibbs_{steps}"] = (
                lambda seed, steps=steps: self._run(seed, steps), [self.seed_spec()])
        return endpoints

"""One training step on 2 logical CPU replicas against 1 replica, per model.

Run as `python -m tests.distributed_check NAME ...` (logical devices must be
set before TensorFlow starts, so the tests run it in a fresh process). For
each model it prints, as JSON: the largest weight difference after one step
between 1 replica and 2 replicas on the same global batch with the same
noise, the same for 2 replicas whose loss is a plain per-replica mean (the
bug the global-batch average prevents), how far the step moved the weights,
and both runs' logged metrics. Plain SGD, because Adam's first step is
nearly scale-invariant and would hide an N-times-too-large gradient.
"""

import json
import sys

from training import distribute as dist

dist.use_cpu_replicas(2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests import contract  # noqa: E402
from zoo.gan.base import GANBase  # noqa: E402


def _build(name, strategy, objective=None):
    with strategy.scope():
        model = contract.build(name)
        if isinstance(model, GANBase):
            # One SGD per player (VAE-GAN's encoder has a third).
            model.compile(**{key: keras.optimizers.SGD(0.1)
                             for key in model.optimizer_defaults})
        else:
            model.compile(optimizer=keras.optimizers.SGD(0.1))
    if objective is not None:
        model.objective = objective
    return model


def _per_replica_mean(values):
    return tf.reduce_mean(tf.cast(values, tf.float32))


def _max_diff(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def check(name, mirrored):
    reference = _build(name, tf.distribute.get_strategy())
    steps = reference.d_steps if reference.requires_full_batches else 1
    # The test split: fixed binarization and levels, so both runs see the same data.
    data = contract.batches(reference, training=False, n=16 * steps, batch_size=16)
    initial = reference.get_weights()

    def one_step(model):
        model.set_weights(initial)
        history = model.fit(data, epochs=1, verbose=0, shuffle=False).history
        return ([np.array(w) for w in model.weights],
                {k: float(v[-1]) for k, v in history.items()})

    one, logs_one = one_step(reference)
    two, logs_two = one_step(_build(name, mirrored))
    buggy, _ = one_step(_build(name, mirrored, _per_replica_mean))
    return {"max_diff": _max_diff(one, two), "buggy_diff": _max_diff(one, buggy),
            "moved": _max_diff(one, initial), "logs": [logs_one, logs_two]}


def replica_noise(mirrored):
    """Each replica's rows of `training_noise`, and the one-replica draw."""
    with mirrored.scope():
        model = contract.build("vae")
    single_model = contract.build("vae")

    def draw(n, seed):
        return tf.random.stateless_normal([n, 3], seed=seed)

    per_replica = mirrored.run(lambda: model.training_noise(draw, 4))
    single = single_model.training_noise(draw, 8)
    return {"replicas": [np.asarray(t).tolist() for t in
                         mirrored.experimental_local_results(per_replica)],
            "single": np.asarray(single).tolist()}


if __name__ == "__main__":
    strategy = dist.make_strategy("mirrored", 2)
    report = {name: check(name, strategy) for name in sys.argv[1:]}
    report["noise"] = replica_noise(strategy)
    print(json.dumps(report))
